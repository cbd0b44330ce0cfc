"""bot/rasa_server.py: `rasa run` with the API's secret from the environment, never from the
command line, and never without one."""

from __future__ import annotations

import pytest

from bot.rasa_server import rasa_arguments


def test_the_secret_joins_rasas_arguments_inside_the_process():
    assert rasa_arguments(["--enable-api", "--port", "5005"], "s3cret") == [
        "rasa", "run", "--enable-api", "--port", "5005", "--jwt-secret", "s3cret",
        "--jwt-method", "HS256"]


def test_attack_no_secret_means_no_server():
    with pytest.raises(SystemExit, match="RASA_JWT_SECRET is not set"):
        rasa_arguments(["--enable-api"], "")


@pytest.mark.parametrize("flag", ["--jwt-secret", "--jwt-secret=x", "--auth-token", "-t"])
def test_a_secret_on_the_command_line_is_refused(flag):
    with pytest.raises(SystemExit, match="not on the command line"):
        rasa_arguments(["--enable-api", flag, "x"], "s3cret")
