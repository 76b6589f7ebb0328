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
