"""Telling people about a run: chat webhooks and the decision whom to tell (`chat`), threaded e-mail
(`email`), the command-line settings (`settings`), and a recorded example of both (`example`); the
wording is `notify_messages.yml`.
"""
