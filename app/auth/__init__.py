"""Authentication: API keys, OAuth2 client-credentials tokens, scope checks."""
