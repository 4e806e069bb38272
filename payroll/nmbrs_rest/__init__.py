"""The Nmbrs REST API with OAuth 2.0 consent (authorization code, PKCE S256) as a payroll provider.

`identity` speaks to Nmbrs' identity service (authlib), `client` to the REST API (httpx),
`provider` puts them behind the core's port; `sandbox` is a fake of both over real HTTP. The
facts they build on, with sources and confidence, are in the shared spec `nmbrs-rest.md`.
"""
