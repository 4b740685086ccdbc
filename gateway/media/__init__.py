"""Media: synchronous images and async media tasks (images, videos, music).

A task is one row (``MediaTask``) whose status changes only by compare-and-set, holding its
estimate for as long as it may run; it settles once on success or releases once on failure,
cancel or timeout. Its outputs are copied to durable storage (``MediaFile``) and served as
the gateway's own links; a task with a ``callback_url`` is announced to it (``Callback``).
"""
