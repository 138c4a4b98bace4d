"""The site report: an allow-list, no person or device, small counts suppressed (pure)."""

from __future__ import annotations

import json

import jsonschema

from sync.report import (
    K_MIN,
    SCHEMA,
    Figure,
    Host,
    LinkFigures,
    ServiceState,
    SiteReport,
    safe_figures,
)


def test_only_allow_listed_figures_and_labels_go_up() -> None:
    figures = safe_figures(
        [
            (
                "preau_filter_blocked_total",
                'group="college",category="adult",client="10.0.0.7"',
                12,
            ),
            ("preau_portal_sessions", "", 3),
            ("preau_portal_devices", "", 41),
            ("preau_portal_blocked_devices", "", 0),
            ("preau_session_login", 'user="eleve.dupont"', 1),  # not on the list
            ("preau_cache_requests_total", 'class="aa:bb:cc:dd:ee:ff",outcome="hit"', 9),
            ("preau_cache_requests_total", 'class="windows",outcome="hit"', 9),
        ]
    )
    shown = {(f.name, tuple(sorted(f.labels.items()))): f.value for f in figures}
    # The client label is not on the list: dropped, the figure kept per group.
    assert (
        shown[("preau_filter_blocked_total", (("category", "adult"), ("group", "college")))] == 12
    )
    # Fewer than K_MIN people: suppressed; zero is not a person.
    assert K_MIN == 5
    assert shown[("preau_portal_sessions", ())] is None
    assert shown[("preau_portal_devices", ())] == 41
    assert shown[("preau_portal_blocked_devices", ())] == 0
    assert not any(name == "preau_session_login" for name, _ in shown)
    # A label value that looks like a MAC is never sent.
    assert ("preau_cache_requests_total", (("class", "windows"), ("outcome", "hit"))) in shown
    assert len([k for k in shown if k[0] == "preau_cache_requests_total"]) == 1


def test_a_report_validates_against_its_published_schema() -> None:
    report = SiteReport(
        key="0750001A-abcd:1",
        uai="0750001A",
        generated_at=1.0,
        version="0.1.0",
        host=Host(disk_used_percent=1, memory_used_percent=2, uptime_seconds=3),
        services=[ServiceState(name="filter", status="ok")],
        link=LinkFigures(
            policy_version=2, policy_stale=False, spool_bytes=0, spool_dropped_total=0
        ),
        figures=[Figure(name="preau_portal_devices", value=None)],
    )
    document = json.loads(report.model_dump_json(by_alias=True))
    assert document["schema"] == SCHEMA
    schema = SiteReport.model_json_schema(by_alias=True)
    jsonschema.validate(document, schema)
    document["figures"][0]["person"] = "eleve.dupont"
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a key the schema does not name was accepted")
