"""Throughput of the money path alone on ONE account, with many requests in flight.

``--concurrency`` greenlets (gevent-patched, as in a gunicorn worker) each loop: reserve,
give the connection back, sleep ``--delay-ms`` (the upstream call), settle. Variants:

- ``orm``: the project's services (``credits_reserve``, ``generation_settle``);
- ``raw``: the single-statement what-ifs of bench/whatif_sql.py.

Run each with and without ``--async-commit`` (``SET synchronous_commit = off`` on every
connection of this process) to separate the cost of waiting for the WAL flush while the
account row is locked. Prints requests/s and CPU per request (this process and the
database's backends). Needs a seeded bench database (``bench/chat.py --keep-db``)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench \\
      .venv/bin/python bench/hotrow.py --variant raw --concurrency 50
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench import procstat  # noqa: E402
from bench.djsetup import django_setup  # noqa: E402
from bench.whatif_sql import RESERVE_SQL, SETTLE_SQL, settle_params  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("orm", "raw"), default="orm")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--async-commit", action="store_true")
    args = parser.parse_args()
    if args.async_commit:
        os.environ["PGOPTIONS"] = "-c synchronous_commit=off"
    django_setup(allowed_hosts="127.0.0.1")
    from django.conf import settings
    from django.db import connection

    from accounts.models import ApiKey, User
    from bench.seed import EMAIL, MODEL_ID
    from billing.pricing import Usage, cost_compute
    from billing.services import credits_reserve
    from catalog.selectors import model_resolve
    from gateway.services import Outcome, generation_settle

    db = settings.DATABASES["default"]["NAME"]
    user = User.objects.get(email=EMAIL)
    key = ApiKey.objects.filter(user=user).first()
    key_id = key.pk if key else None
    account_id = user.credit_account.pk
    model = model_resolve(name=MODEL_ID)
    route = model.routes[0]
    usage = Usage(prompt_tokens=20, completion_tokens=8)
    cost = cost_compute(usage=usage, prices=model.prices)
    done = [0]
    deadline = time.monotonic() + args.seconds
    run_id = f"{os.getpid()}-{time.time_ns()}"

    def one(i: int) -> None:
        rid = f"hot-{run_id}-{i}"
        if args.variant == "orm":
            hold = credits_reserve(
                account_id=account_id,
                api_key_id=key_id,
                monthly_limit=None,
                amount=1000,
                request_id=rid,
                ttl_seconds=900,
            )
            connection.close()
            gevent.sleep(args.delay_ms / 1000)
            outcome = Outcome(
                request_id=rid,
                user_id=user.pk,
                api_key_id=key_id,
                surface="chat.completions",
                model=MODEL_ID,
                route_id=route.id,
                provider=route.provider_name,
                upstream_model=route.upstream_model,
                prices=model.prices.as_dict(),
                usage=usage,
            )
            generation_settle(hold=hold, outcome=outcome, cost=cost)
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    RESERVE_SQL, {"account": account_id, "key": key_id, "amount": 1000, "rid": rid}
                )
                hold_id = cursor.fetchone()[0]
            connection.close()
            gevent.sleep(args.delay_ms / 1000)
            with connection.cursor() as cursor:
                cursor.execute(
                    SETTLE_SQL,
                    settle_params(
                        hold=hold_id,
                        cost=cost,
                        usage=usage,
                        key=key_id,
                        rid=rid,
                        user=user.pk,
                        route=route,
                        model=model,
                        model_id=MODEL_ID,
                    ),
                )
        connection.close()
        done[0] += 1

    def loop(g: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            one(g * 1_000_000 + i)

    one(0)  # warm
    pg0 = sum(
        (procstat.stat(p) or procstat.stat(os.getpid())).cpu for p in procstat.postgres_pids(db)[0]
    )
    c0, w0 = time.process_time(), time.monotonic()
    gevent.joinall([gevent.spawn(loop, g) for g in range(1, args.concurrency + 1)])
    c1, w1 = time.process_time(), time.monotonic()
    time.sleep(0.3)
    pg1 = sum(
        (procstat.stat(p) or procstat.stat(os.getpid())).cpu for p in procstat.postgres_pids(db)[0]
    )
    n = max(1, done[0] - 1)
    print(
        f"{args.variant:4} c={args.concurrency:<4} "
        f"synchronous_commit={'off' if args.async_commit else 'on '}"
        f"  {n / (w1 - w0):7.1f} req/s  {(c1 - c0) / n * 1e3:6.2f} ms CPU py/req"
        f"  {(pg1 - pg0) / n * 1e3:6.2f} ms CPU pg/req"
    )


if __name__ == "__main__":
    main()
