"""The staff console and the customer pages, served by `complaints serve` (README.md, "The
staff console"): server-rendered HTML (jinja2, templates/console/) with a little plain
JavaScript (static/), no CDN and no build step.

    app.py        mounts it all under /console/ and sends the security headers
    base.py       what every module stands on: rendering, refusals, Temporal in time
    auth.py       sign-in, sign-out, sessions and CSRF tokens
    queue.py      the queue: what a person should act on, most urgent first
    pages.py      a complaint's page and the actions taken from it
    forms.py      each action as a form: its fields, its button, who is offered it now
    approvals.py  refunds awaiting the Finance Manager; escalations for the supervisors
    suspended.py  mail the gateway held aside, released or rejected by agents and team leads
    reports.py    the weekly, monthly and quarterly reports and the policy what-if
    views.py      what the pages show: countdowns, business time, names
    customer.py   the customer's pages, under /c/ (signed links from our emails)
"""
