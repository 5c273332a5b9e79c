"""The run's reports: Markdown for admins and the JSON the book reads (`files`); the JUnit XML
for CI systems is written with `data.examples_report.junit_xml`.
"""
