"""Mail: a transactional outbox and the worker that delivers it over SMTP.

A domain that must tell someone something (a reset link, a security notice)
calls `outbox.enqueue()` inside the transaction of the change itself: the
message is committed with the change or not at all. The delivery worker
(`flask --app flaskou mail worker`) claims due messages, sends them, and
retries with backoff while the SMTP server is away. mail sits at the bottom
of the domains: it knows addresses and templates, not accounts.
"""
