"""Running examples: what a run will do (`planning`), its workers (`runner`), one example on a
kernel (`execute`), through the hub as the doc CI's account (`through_hub`, `hub_home`,
`home_guard`), the run's folders and room (`workspace`, `cleanup`), the daemons it watches
(`site_watch`) and what the site offers (`capabilities`).
"""
