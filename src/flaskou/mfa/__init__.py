"""Second factors: an authenticator app (TOTP), recovery codes and passkeys
(WebAuthn), and the short-lived sign-in attempts and ceremonies that use them.

mfa sits beside sessions and files, above accounts: it knows users, not
sessions. Turning a verified factor into a session is flaskou.signin's job,
the one place that runs every way of signing in.
"""
