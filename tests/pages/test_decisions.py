"""Recording the board's decision on the Planner page through AppTest (issue 13 §4): the current
scenario pre-filled, signed by the session's editor, the snapshot equal to what the page shows,
a second record superseding the first; viewers cannot record."""
from __future__ import annotations

import json

from prrt_core.decisions import current
from prrt_core.store import Store
from tests import support
from ui.text import md


def open_planner(patient_id: str):
    return support.open_page("pages/planner.py", query={"patient": patient_id})


def widget(widgets, name: str):
    """The form's widget ``name`` (its key carries the form's version: ``dec_kind_0``, ...)."""
    return next(w for w in widgets if w.key and w.key.rsplit("_", 1)[0] == name)


def sign(at, **fields) -> None:
    for name, value in fields.items():
        widget((*at.text_input, *at.text_area), name).input(value)
    at.run()
    next(b for b in at.button if b.key == "dec_sign").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_decision_is_signed_with_the_scenario_and_superseded(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_planner("NET-010")
    sign_button = next(b for b in at.button if b.key == "dec_sign")
    assert sign_button.disabled  # attendees and rationale are still empty
    assert widget(at.radio, "dec_kind").value == "salvage"
    # A salvage decision is the planner's scenario (so the snapshot shows the plan decided); against a
    # "cannot assess" verdict (NET-010's latest labs are out of date) the board acknowledges it first.
    assert any(c.value.startswith("Salvage as planned above: 2 x 7.4 GBq") for c in at.caption)
    assert any(c.value == "To sign a salvage decision: acknowledge the verdict (cannot assess)." for c in at.caption)
    widget(at.checkbox, "dec_against").check().run()
    widget(at.text_input, "dec_attendees").input("oncology; nuclear medicine; physics")
    widget(at.text_area, "dec_rationale").input("Long PFS; BED within limits")
    at.run()
    assert next(b for b in at.button if b.key == "dec_sign").disabled  # single-user mode: a signer's name
    sign(at, dec_signer="Dr A. Chair")
    assert any(s.value.startswith(md("Record 1 signed: salvage: 2 x 7.4 GBq")) for s in at.success)
    with Store(fresh_demo_db) as store:
        first = current(store.read("board_decisions"), "NET-010")
    assert first.signed_by == "Dr A. Chair (local user)" and not first.imported
    assert first.attendees == "oncology; nuclear medicine; physics"
    verdict = next(a for a in (*at.success, *at.warning, *at.error, *at.info) if "Verdict on" in a.value).value
    # The snapshot keeps what the page showed: its verdict, the scenario and the settings in force.
    assert f"**Verdict on {first.snapshot['evaluation_date']}: {first.snapshot['verdict']}**" in verdict
    assert first.snapshot["scenario"] == {"n_cycles": 2, "activity_gbq": 7.4}
    assert first.snapshot["settings"]["alpha_beta_gy"] == 2.6
    assert json.loads(json.dumps(first.snapshot)) == first.snapshot

    widget(at.radio, "dec_kind").set_value("defer").run()
    assert widget(at.checkbox, "dec_supersedes").value  # supersedes record 1
    sign(at, dec_attendees="oncology", dec_rationale="Await MAG3 renography", dec_signer="Dr A. Chair")
    with Store(fresh_demo_db) as store:
        now = current(store.read("board_decisions"), "NET-010")
    assert (now.record_number, now.supersedes_record, now.decision.value) == (2, 1, "defer")
    history = at.dataframe[-1].value
    assert history["Status"].tolist() == ["current", "superseded by record 2"]


def test_a_viewer_cannot_record(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    auth = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-secret",
            "client_id": "id", "client_secret": "secret",
            "server_metadata_url": "https://login.clinic.example/.well-known/openid-configuration"}
    at = support.open_page("pages/planner.py", query={"patient": "NET-010"},
                           secrets={"auth": auth, "prrt": {"roles": {"viewers": ["v@clinic.example"]}}},
                           user={"is_logged_in": True, "email": "v@clinic.example", "email_verified": True})
    assert not [b for b in at.button if b.key == "dec_sign"]
    assert any(i.value == "Only editors record decisions." for i in at.info)
