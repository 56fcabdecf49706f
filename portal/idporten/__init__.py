"""Login with ID-porten (OpenID Connect, authorization code flow with PKCE) for the web chat."""
