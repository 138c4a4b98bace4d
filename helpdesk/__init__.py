"""Help for every user: guides per role and task, an FAQ, and requests the referent answers.

CARMO #10.3 and #10.5: an online help portal with tutorials, an FAQ and a
request form, reachable at any hour. The guides and the FAQ are data
(:mod:`helpdesk.guides`, pure, every sentence through the catalogue); their
screenshots are taken by the UI tests from the real pages, so a guide that
no longer matches its page fails a test. Requests live in the state DB for
a bounded time (:mod:`helpdesk.requests`).
"""
