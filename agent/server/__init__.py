"""``dagrag serve``: one process holding one DagRAG, serving a web review console, a JSON API
under ``/api`` (OpenAPI at ``/docs``) and an MCP server at ``/mcp``; ``dagrag mcp`` serves the
same MCP tools over stdio.

>>> from agent.server.app import create_app
>>> app = create_app(rag)                      # a FastAPI app; uvicorn.run(app, host="127.0.0.1")
"""
