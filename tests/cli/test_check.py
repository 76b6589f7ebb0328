"""``imagepipe check`` with RabbitMQ as the broker: Redis and the broker each get their line."""

import subprocess
import sys


def _check(env):
    done = subprocess.run([sys.executable, "-m", "imagepipe.cli", "check"], env=env, capture_output=True, text=True)
    return done.returncode, done.stdout


def test_a_rabbitmq_broker_is_checked_beside_redis_and_a_wrong_password_is_named_not_shown(
    rabbitmq_url, redis_url, tmp_path
):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}", "MEDIA_ROOT": str(tmp_path), "REDIS_URL": redis_url}

    code, out = _check({**env, "BROKER_URL": rabbitmq_url})
    assert code == 0, out
    assert out.splitlines()[:3] == ["database: ok", "redis: ok", "broker: ok"]

    code, out = _check({**env, "BROKER_URL": rabbitmq_url.replace("guest:guest@", "guest:not-the-password@")})
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("broker:")]
    assert line.startswith("broker: FAILED: ") and "ACCESS_REFUSED" in line, out
    assert "not-the-password" not in out


def test_the_describer_is_checked_without_calling_a_paid_api(redis_url, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}", "MEDIA_ROOT": str(tmp_path), "REDIS_URL": redis_url}

    code, out = _check({**env, "IMAGEPIPE_DESCRIBE_PARTS": "facts,ocr"})
    assert code == 0 and out.splitlines()[-1] == "describer: ok (local: facts, ocr)", out

    code, out = _check({**env, "IMAGEPIPE_DESCRIBER": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert code == 1
    assert out.splitlines()[-1] == (
        "describer: FAILED: IMAGEPIPE_DESCRIBER=openai needs OPENAI_API_KEY (openai: gpt-4o-mini at http://127.0.0.1:9/v1)"
    )
    code, out = _check({**env, "IMAGEPIPE_DESCRIBER": "openai", "OPENAI_API_KEY": "sk-check-0123456789"})
    assert code == 0 and "sk-check" not in out
