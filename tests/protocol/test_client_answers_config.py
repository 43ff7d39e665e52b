"""``client:`` as written: every mistake one line naming its key, before any traffic; what is set
is all that is declared; the delay drawn as configured and bounded."""

from __future__ import annotations

import pickle
import random
import statistics
from pathlib import Path

import pytest

from mcpgate.config.client import ClientConfig
from mcpgate.protocol.client_side import AnswerError
from mcpgate.support import exitcodes
from mcpgate.workload.client_answers import ConfiguredAnswers, client_answers, draw
from tests.run.helpers import config_file
from tests.test_cli_probe import mcpgate


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ({"sampling": {"delay": "2s..1s"}}, "client.sampling.delay: the range's low end is larger than its high end"),
        ({"sampling": {"delay": "soon"}}, "client.sampling.delay: expected a duration like 500ms"),
        (
            {"sampling": {"delay": {"distribution": "lognormal", "median": "2s", "p95": "1s"}}},
            "client.sampling.delay: p95 must be at least the median",
        ),
        ({"sampling": {"delay": "20m"}}, "client.sampling.delay: delays are bounded at 600s"),
        ({"sampling": {"text": "{{ oops"}}, "client.sampling.text: template syntax error"),
        ({"sampling": {"tex": "a"}}, "client.sampling: unknown key 'tex' (did you mean 'text'?)"),
        ({"elicitation": {"action": "maybe"}}, "client.elicitation.action: expected 'accept', 'decline' or 'cancel'"),
        (
            {"elicitation": {"action": "decline", "content": {"a": 1}}},
            "client.elicitation: content goes only with action accept, not decline",
        ),
        ({"elicitation": {"content": {"n": "{% for %}"}}}, "client.elicitation.content.n: template syntax error"),
        ({"roots": [{"uri": "srv"}]}, "client.roots.0.uri: must be a URI with a scheme"),
    ],
)
async def test_bad_client_config_is_one_line_naming_the_key(tmp_path: Path, client: object, message: str) -> None:
    path = config_file(tmp_path / "mcpgate.yaml", {"target": {"url": "http://127.0.0.1:9/mcp"}, "client": client})
    code, out, err = await mcpgate("validate", str(path))
    assert code == exitcodes.INVALID_INPUT, out + err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_only_what_is_set_is_declared() -> None:
    assert client_answers(ClientConfig()) is None
    answers = client_answers(ClientConfig.model_validate({"elicitation": {}, "roots": []}))
    assert answers is not None
    assert answers.capabilities() == {"elicitation": {}, "roots": {}}


def test_answers_pickle_as_their_config_and_work_where_they_land() -> None:
    """Worker processes get the target, answers and all: compiled templates do not pickle, so the
    config does and is compiled again."""
    config = ClientConfig.model_validate({"sampling": {"text": "{{ request.x }}!"}})
    copy = pickle.loads(pickle.dumps(ConfiguredAnswers(config, seed=7)))
    assert isinstance(copy, ConfiguredAnswers)
    assert copy.config == config
    assert copy.capabilities() == {"sampling": {}}


def test_lognormal_delay_has_its_median_and_p95_and_stays_bounded() -> None:
    config = ClientConfig.model_validate(
        {"sampling": {"delay": {"distribution": "lognormal", "median": "800ms", "p95": "3s", "max": "5s"}}}
    )
    assert config.sampling is not None
    rng = random.Random(1)
    drawn = sorted(draw(config.sampling.delay, rng) for _ in range(20000))
    assert statistics.median(drawn) == pytest.approx(0.8, rel=0.05)
    assert drawn[int(0.95 * len(drawn))] == pytest.approx(3.0, rel=0.08)
    assert max(drawn) == 5.0  # the tail is cut at max


def test_uniform_delay_stays_in_its_range() -> None:
    config = ClientConfig.model_validate({"sampling": {"delay": "300ms..1.5s"}})
    assert config.sampling is not None
    rng = random.Random(2)
    drawn = [draw(config.sampling.delay, rng) for _ in range(2000)]
    assert 0.3 <= min(drawn) < 0.35
    assert 1.45 < max(drawn) <= 1.5


async def test_a_url_elicitation_is_accepted_without_content() -> None:
    answers = client_answers(ClientConfig.model_validate({"elicitation": {"content": {"name": "x"}}}))
    assert answers is not None
    url = {"mode": "url", "url": "https://example.com/consent", "message": "m", "elicitationId": "e1"}
    assert await answers.answer("elicitation/create", url) == {"action": "accept"}
    form = {"message": "m", "requestedSchema": {"type": "object"}}
    assert await answers.answer("elicitation/create", form) == {"action": "accept", "content": {"name": "x"}}
    assert await answers.answer("roots/list", {}) == AnswerError(-32601, "mcpgate does not handle roots/list")
