"""Django in this process, for the one-process benchmarks (bench/micro.py, bench/hotrow.py,
bench/profile_request.py) against a seeded bench database (DATABASE_URL)."""

from __future__ import annotations

import os


def django_setup(allowed_hosts: str = "127.0.0.1,localhost,testserver") -> None:
    """Production settings (unless DJANGO_SETTINGS_MODULE says otherwise), no Redis."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", allowed_hosts)
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")  # plain HTTP on 127.0.0.1
    os.environ.setdefault("BENCH_UPSTREAM_KEY", "bench-upstream-key")
    os.environ.setdefault("REDIS_URL", "")
    import django

    django.setup()


def provider_repoint(upstream_port: int) -> None:
    """Point the seeded provider at a fake upstream on this port (0: leave it)."""
    if not upstream_port:
        return
    from bench.seed import PROVIDER
    from catalog.models import Provider

    Provider.objects.filter(slug=PROVIDER).update(base_url=f"http://127.0.0.1:{upstream_port}/v1")
