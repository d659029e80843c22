"""HTTP routers: thin, they parse, call one service and shape the answer."""
