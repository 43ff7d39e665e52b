"""HTTP/1.1 on connections we own: the client every MCP request goes through.

Why not a general-purpose client: a load generator spends its CPU where the
server should be measured. This one does only what MCP over HTTP needs: keep-alive
connections pooled per origin (``pool``), a request written in one ``write``,
responses parsed by llhttp (``httptools``, the parser uvicorn uses) on a connection
of our own (``connection``) as leniently as aiohttp reads them and no more (interim 1xx
responses skipped, the head capped in bytes and fields), bodies streamed as they arrive
(SSE) with flow control and any stack of gzip and deflate undone (``body``), TCP to every
address a name has and TLS through the standard ``ssl`` module (``dial``), an HTTP proxy
when the run has one (``proxy``: decided once per origin, so a direct run pays nothing for
it), and every failure raised as one of the exceptions in ``errors``, so
``http.classify_exception`` can name it. Measured on one core against the same stub: about
three times the request rate of aiohttp's client.

The pool follows no redirects and keeps no cookies: each MCP session does both
for itself (``protocol.session_http``).
"""
