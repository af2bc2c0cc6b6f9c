"""The shared trigger-form fields: each says what its default does and never blocks Trigger."""

from __future__ import annotations

from learnosity_provider import form


def test_every_shared_field_has_a_title_a_section_and_its_default_explained() -> None:
    fields = {
        "verify": form.verify(),
        "max_quarantine_share": form.max_quarantine_share(),
        "activity_ids": form.activity_ids("every activity"),
        "ignore_response_revisions": form.ignore_response_revisions(),
        "reconcile_since": form.reconcile_since(),
    }
    for name, param in fields.items():
        assert param.schema["title"] and param.schema["section"], name
        assert "Default" in (param.description or ""), name
        param.resolve()  # a valid default: scheduled runs need no form
    assert fields["activity_ids"].description.endswith("Default empty: every activity.")


def test_the_dry_run_switch_is_off_and_in_the_section_the_form_opens_with() -> None:
    switch = form.dry_run("check and report; send nothing")
    assert switch.resolve() is False and "section" not in switch.schema
    assert switch.description == "On: check and report; send nothing. Default off: a real run that sends."
