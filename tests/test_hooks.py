"""Every bad answer stops the bake in the pre-generation hook with one ERROR line that says how to fix it."""

from __future__ import annotations

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE

def raw(text: str) -> str:
    """An answer as cookiecutter passes it on literally: extra_context values are rendered first."""
    return "{% raw %}" + text + "{% endraw %}"


BAD_ANSWERS = [
    # (answers, the text the ERROR line must contain)
    ({"slug": "my competition"}, "slug 'my competition' is not a valid folder name"),
    ({"slug": "My_Competition"}, "Try slug='my_competition'"),
    ({"slug": "-x"}, "starting with a letter or digit"),
    ({"title": "   "}, "title: the title is empty"),
    ({"title": "x" * 257}, "over Codabench's limit of 256"),
    ({"contact_email": "organizer"}, "contact_email 'organizer' is not an email address"),
    ({"contact_email": "a@b"}, "contact_email 'a@b' is not an email address"),
    ({"start_date": "04/01/2027"}, "start_date '04/01/2027' is not a date in the form YYYY-MM-DD"),
    ({"start_date": "2027-02-30"}, "start_date '2027-02-30' is not a date"),
    ({"_dev_phase_days": "ten"}, "_dev_phase_days 'ten' is not a whole number of days"),
    ({"_dev_phase_days": "0"}, "_dev_phase_days '0' is not a whole number of days from 1"),
    ({"_final_phase_days": "-3"}, "_final_phase_days '-3' is not a whole number"),
    ({"_final_phase_days": "2.5"}, "_final_phase_days '2.5' is not a whole number"),
    ({"_docker_image": "codalab/codalab-legacy"}, "is not a pinned image name"),
    ({"_docker_image": "codalab/codalab-legacy:latest"}, "moving tag 'latest'"),
    ({"_docker_image": "Codalab/Legacy:py312"}, "is not a pinned image name"),
    ({"_description": "line one\nline two"}, "_description: the description spans several lines"),
    ({"datasets_per_phase": "0"}, "datasets_per_phase '0' is not a whole number from 1 to 5"),
    ({"datasets_per_phase": "6"}, "datasets_per_phase '6' is not a whole number from 1 to 5"),
    ({"datasets_per_phase": "two"}, "datasets_per_phase 'two' is not a whole number"),
    # Hostile or careless answers: digits int() refuses, dates whose phases end after year 9999.
    ({"datasets_per_phase": "\u00b3"}, "datasets_per_phase '\u00b3' is not a whole number from 1 to 5"),
    ({"datasets_per_phase": "\u0663"}, "datasets_per_phase '\u0663' is not a whole number"),  # Arabic-Indic 3
    ({"_dev_phase_days": "\u00b2"}, "_dev_phase_days '\u00b2' is not a whole number of days"),
    ({"_final_phase_days": "9" * 5000}, "_final_phase_days '" + "9" * 59 + "... (4942 more characters) is not a whole"),
    ({"start_date": "9999-12-01"}, "start_date '9999-12-01' is too late: the phases would end after year 9999"),
    ({"start_date": "9001-01-01"}, "Write a date up to 9000-12-31"),
    # Template markup that arrives literally (typed at the prompt, or wrapped in raw on the command line):
    # cookiecutter would evaluate it when the answers are given again (cruft update, replay).
    ({"title": raw("{{ 7*7 }}")}, "title '{{ 7*7 }}' holds the template markup '{{'"),
    ({"title": raw("A {{ ''.__class__ }} B")}, "holds the template markup '{{', which cookiecutter evaluates"),
    ({"title": raw("{% include '/etc/passwd' %}")}, "holds the template markup '{%'"),
    ({"title": raw("A {# hidden #} B")}, "holds the template markup '{#'"),
    ({"title": raw("closing only }}")}, "holds the template markup '}}'"),
    ({"contact_email": raw("{{x}}@example.org")}, "contact_email '{{x}}@example.org' holds the template markup"),
    ({"_description": "{% for x in y %}{% endfor %}"}, "_description '{% for x in y %}{% endfor %}' holds"),  # settings starting with _ arrive unrendered
    # Characters no page or log shows: terminal escapes, bell, NUL, tabs, Unicode line separators.
    ({"title": "A\x1b[31m red"}, "title: character 2 is a control character (U+001B)"),
    ({"title": "bell\x07"}, "title: character 5 is a control character (U+0007)"),
    ({"title": "nul\x00"}, "title: character 4 is a control character (U+0000)"),
    ({"title": "tab\there"}, "title: character 4 is a control character (U+0009)"),
    ({"title": "A\u2028B"}, "title: character 2 is a line separator (U+2028)"),
    ({"title": "A\u2029B"}, "title: character 2 is a paragraph separator (U+2029)"),
    ({"title": "A\x85B"}, "title: character 2 is a control character (U+0085)"),
    ({"_description": "one\x1b[2Jcleared"}, "_description: character 4 is a control character (U+001B)"),
    # Paths, shells and markup where a name or a number belongs.
    ({"slug": "../outside"}, "slug '../outside' is not a valid folder name"),
    ({"slug": "d\u00e9fi"}, "slug 'd\u00e9fi' is not a valid folder name"),
    ({"slug": "a" * 65}, "is not a valid folder name: use 1 to 64"),
    ({"contact_email": "a@b.org\nBcc: x@y.org"}, "is not an email address"),
    ({"contact_email": "<script>@x.org"}, "is not an email address"),
    ({"_docker_image": "img:1;rm -rf /"}, "is not a pinned image name"),
    ({"_docker_image": "codalab/codalab-legacy:py312 --privileged"}, "is not a pinned image name"),
    ({"_dev_phase_days": "1e3"}, "_dev_phase_days '1e3' is not a whole number of days"),
    ({"start_date": "2027-01-04T00:00:00"}, "is not a date in the form YYYY-MM-DD"),
    ({"start_date": "0000-01-01"}, "is not a date in the form YYYY-MM-DD"),
    # A private queue: its vhost, never its name or its broker URL (which holds the queue's password).
    ({"queue": "L2RPN-30CPU"}, "queue 'L2RPN-30CPU' is not a vhost"),
    ({"queue": "12345"}, "queue '12345' is not a vhost"),
    ({"queue": "0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5"}, "is not a vhost"),
    ({"queue": "pyamqp://user:s3cret@codabench.example:5672/0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b"},
     "Give only the vhost, the UUID after its last '/' (here 0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b)"),
    ({"_docker_image": "codalab/codalab-legacy:gpu310"}, "is a GPU image, and the public queue has no GPU"),
]


def _id(case) -> str:
    answers, _ = case
    return "-".join(f"{k}:{str(v)[:12]!r}" for k, v in answers.items())


@pytest.mark.parametrize("answers,expected", BAD_ANSWERS, ids=[_id(c) for c in BAD_ANSWERS])
def test_bad_answer_fails_in_the_pre_gen_hook_with_its_error_line(answers, expected, tmp_path, user_config, capfd):
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path), config_file=str(user_config))
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert list(tmp_path.iterdir()) == []  # nothing half-made is left behind


def test_every_bad_answer_is_reported_at_once(tmp_path, user_config, capfd):
    answers = {"slug": "a b", "contact_email": "x", "start_date": "soon", "_dev_phase_days": "a", "_final_phase_days": "b"}
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path), config_file=str(user_config))
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR: ")]
    assert [e.split()[1] for e in errors] == ["slug", "contact_email", "start_date", "_dev_phase_days", "_final_phase_days"]


def test_a_title_without_letters_still_derives_a_valid_slug(bake):
    assert bake(title="!!! ???").name == "competition"


def test_answers_are_data_not_code_in_the_hook(bake):
    """Quotes and backslashes that would end a Python string literal reach the bundle unchanged."""
    title = "It's ''' a \"\"\" test \\ end"
    bundle = bake(title=title, slug="quoted")
    assert f"# {title}".replace("\\", "\\\\") in (bundle / "pages" / "overview.md").read_text(encoding="utf-8")


def test_a_non_default_image_bakes_with_a_warning(bake, capfd):
    bundle = bake(_docker_image="ghcr.io/my-org/my-image:1.2.3", slug="custom_image")
    assert "docker_image: \"ghcr.io/my-org/my-image:1.2.3\"" in (bundle / "competition.yaml").read_text(encoding="utf-8")
    assert "WARNING: the programs are tested on codalab/codalab-legacy:py312" in capfd.readouterr().err


def test_a_broker_url_given_as_queue_is_refused_without_printing_its_password(tmp_path, user_config, capfd):
    url = "pyamqp://2f0c6a8e-user:9d1b-secret-pass@codabench.example:5672/0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b"
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context={"queue": url}, output_dir=str(tmp_path),
                     config_file=str(user_config))
    captured = capfd.readouterr()
    assert "9d1b-secret-pass" not in captured.err + captured.out


def test_a_queue_is_written_as_its_quoted_lowercase_vhost(bake):
    bundle = bake(queue=" 0B6A9F3E-5C1D-4E2F-9A7B-3C8D1E2F4A5B ", _docker_image="codalab/codalab-legacy:gpu310",
                  slug="on_a_queue")
    text = (bundle / "competition.yaml").read_text(encoding="utf-8")
    assert "queue: '0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b'\n" in text
    assert yaml.safe_load(text)["queue"] == "0b6a9f3e-5c1d-4e2f-9a7b-3c8d1e2f4a5b"


def test_without_a_queue_competition_yaml_has_no_queue_key(bake):
    assert "queue" not in yaml.safe_load((bake(slug="public_queue") / "competition.yaml").read_text(encoding="utf-8"))
