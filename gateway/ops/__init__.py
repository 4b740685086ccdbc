"""Operations: Prometheus metrics (``metrics``, ``collectors``) and the health and readiness
probes (``readiness``), served by ``views`` at /metrics, /healthz and /readyz."""
