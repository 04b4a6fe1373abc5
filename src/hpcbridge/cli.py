"""Command line: `hpcbridge serve | dashboard | call | check | login | tools | cluster | settings | history`. Logs
go to stderr; stdout carries only results (and, for `serve` over stdio, only the MCP protocol). Start with
`hpcbridge cluster add NAME --host HOST --user USER --default`, then `hpcbridge check`."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import os
import signal
import sys
from typing import Any

from . import cli_admin, cli_settings
from .config import DEFAULT_TOOLSETS, TOOLSETS, Settings, load_settings, toolset_list
from .errors import ConfigError, HpcBridgeError, NoClusterConfigured
from .services.interactive import Sessions
from .services.registry import Registry
from .store import Store

log = logging.getLogger("hpcbridge")


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _setup_logging(level: str) -> None:
    """One format on stderr for hpcbridge, fastmcp and uvicorn: theirs propagate to the root handler.
    fastmcp installs its own (rich, multi-line) handler when imported unless FASTMCP_LOG_ENABLED is false, and
    it is imported lazily (after this) on the fast paths, so the variable is set first; uvicorn gets no
    log_config (see _serve), so its loggers propagate too."""
    os.environ["FASTMCP_LOG_ENABLED"] = "false"
    # fastmcp's session-state store (py-key-value, loaded at the first tools/list) puts its whole package through
    # beartype's import hook and type-checks every call unless this is set: about 60 ms of each start, for
    # checks that only turn a wrong type inside that library into a warning. A value the user set is kept.
    os.environ.setdefault("PY_KEY_VALUE_DISABLE_BEARTYPE", "true")
    if "fastmcp" in sys.modules:  # imported already: undo what its import configured
        import fastmcp

        fastmcp.settings.log_enabled = False
        own = logging.getLogger("fastmcp")
        for handler in own.handlers[:]:
            own.removeHandler(handler)
        own.propagate = True
        own.setLevel(logging.NOTSET)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO), format=LOG_FORMAT)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .private import state_dir
    from .server.app import create_app, new_instance_tag
    from .server.http_auth import NamedTokenVerifier, http_tokens

    if args.token is not None:
        raise ConfigError("--token would show the token to every user in `ps`; set HPCBRIDGE_HTTP_TOKEN, or "
                          "put it in a file and pass --token-file (or http.token_file in the config)")
    if args.token_file:
        settings.http.token_file = args.token_file
    if args.toolsets:
        settings.toolsets = toolset_list(args.toolsets)
    auth = None
    if args.transport == "http":
        tokens = http_tokens(settings, state_dir())
        auth = NamedTokenVerifier(tokens)
        log.info("HTTP principals: %s", ", ".join(sorted(tokens)))
    store = Store()
    tag = new_instance_tag()
    app = create_app(settings, auth=auth, instance=tag, store=store, dashboard=args.transport == "http")
    if args.transport == "http":
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"dashboard: http://{host}:{args.port}/  (log in with the same token as /mcp)",  # noqa: hook - CLI message on stderr
              file=sys.stderr)
    # SIGTERM unwinds like Ctrl-C, so the server's lifespan and the cleanup below both run
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.transport == "stdio":
            app.run(transport="stdio", show_banner=False)
        else:
            # strict: Host must be a loopback name, the bound address or an allowed host; a browser Origin
            # must match (MCP transports spec: servers MUST validate Origin). DNS rebinding gets 421/403.
            app.run(transport="http", host=args.host, port=args.port, path="/mcp", show_banner=False,
                    host_origin_protection=True, allowed_hosts=[args.host, *settings.http.allowed_hosts],
                    allowed_origins=settings.http.allowed_origins,
                    uvicorn_config={"log_config": None})  # uvicorn's loggers propagate: one format
    except KeyboardInterrupt:
        pass
    finally:
        asyncio.run(_release_allocations(settings, store, tag))
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _release_allocations(settings: Settings, store: Store, tag: str) -> None:
    """Whatever ended the server (client gone, SIGTERM, SIGINT, a crash), no allocation it made survives."""
    registry = Registry(settings)
    try:
        cancelled = await Sessions(registry, store, tag).cancel_all()
        if cancelled:
            log.info("cancelled %d allocation(s) on exit", cancelled)
    except HpcBridgeError as exc:
        log.error("could not cancel this server's allocations on exit: %s", exc)
    finally:
        await registry.close()
        store.close()


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _wants_string(schema: dict[str, Any]) -> bool:
    """A parameter typed only as string (or string|null) takes the text as given: 10 stays '10'."""
    types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    return "string" in types and not types & {"integer", "number", "boolean", "object", "array"}


def _unknown_tool(name: str, known: list[str]) -> int:
    """106 names would bury the answer: the closest few, and where the whole list is."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    print(f"unknown tool {name!r}: {hint}`HPCBRIDGE_TOOLSETS=all hpcbridge tools` lists every one", file=sys.stderr)  # noqa: hook - CLI message on stderr
    return 2


async def _call(settings: Settings, tool: str, pairs: list[str], as_json: bool) -> int:
    from fastmcp import Client
    from fastmcp.exceptions import ToolError

    from .server.app import create_app

    # a person at a shell is not an agent's context budget: every toolset is callable
    everything = settings.model_copy(update={"toolsets": list(TOOLSETS)})
    async with Client(create_app(everything)) as client:
        schemas = {t.name: t.input_schema.get("properties", {}) for t in await client.list_tools()}
        if tool not in schemas:
            return _unknown_tool(tool, list(schemas))
        arguments: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                print(f"argument {pair!r} is not key=value (e.g. limit=10); `hpcbridge tools {tool}` shows the "
                      "parameters", file=sys.stderr)  # noqa: hook - CLI message on stderr
                return 2
            arguments[key] = value if _wants_string(schemas[tool].get(key, {})) else _parse_value(value)
        try:
            result = await client.call_tool(tool, arguments)
        except ToolError as exc:
            print(f"error: {exc}", file=sys.stderr)  # noqa: hook - CLI message on stderr
            return 1
    if as_json:
        print(json.dumps(result.structured_content, indent=2))  # noqa: hook - CLI output on stdout
    else:
        for block in result.content:
            print(getattr(block, "text", block))  # noqa: hook - CLI output on stdout
    return 0


def _settings_for_tools() -> Settings:
    """`tools` describes the tool surface, which needs no cluster: without one configured, a placeholder host
    stands in (nothing connects to it: the tools are listed without starting the server's lifespan)."""
    try:
        return load_settings()
    except NoClusterConfigured:
        return load_settings({**os.environ, "SLURM_SSH_HOST": "unused.invalid"})


async def _tools(settings: Settings, sizes: bool, names: list[str]) -> int:
    from .server.app import create_app

    if names:
        return await _tool_help(settings, names)

    if sizes:
        from .server.surface import per_toolset

        for s in await per_toolset(settings):
            print(f"{','.join(s.toolsets):<45} {s.tools:>3} tools  {s.visible_bytes / 1024:5.1f} KB model-visible  "  # noqa: hook - CLI output
                  f"{s.whole_bytes / 1024:5.1f} KB tools/list")
        return 0
    listed = await create_app(settings).list_tools()  # no lifespan: no SSH, no database, no Jupyter start
    for tool in listed:
        print(f"{tool.name}: {(tool.description or '').splitlines()[0]}")  # noqa: hook - CLI output
    # on stderr, so the listing stays one tool a line: a newcomer took these for every tool there is
    every = set(settings.toolsets) == set(TOOLSETS)
    more = "" if every else "`HPCBRIDGE_TOOLSETS=all hpcbridge tools` lists every one, "
    print(f"{len(listed)} tools of the toolsets {', '.join(settings.toolsets)} (what `hpcbridge serve` offers); "
          f"{more}`hpcbridge call` calls any, `hpcbridge tools NAME` shows a tool's parameters",
          file=sys.stderr)  # noqa: hook - CLI message on stderr
    return 0


async def _tool_help(settings: Settings, names: list[str]) -> int:
    """`hpcbridge tools NAME`: what `hpcbridge call NAME key=value ...` takes, from any toolset (as call)."""
    from .server.app import create_app
    from .server.arguments import parameter_lines

    everything = settings.model_copy(update={"toolsets": list(TOOLSETS)})
    tools = {t.name: t for t in await create_app(everything).list_tools()}
    for name in names:
        if name not in tools:
            return _unknown_tool(name, list(tools))
        print(f"{name}: {tools[name].description or ''}\nparameters (hpcbridge call {name} key=value ...):")  # noqa: hook - CLI output
        print("\n".join(parameter_lines(tools[name].parameters)) or "  none")  # noqa: hook - CLI output
    return 0


def _http_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on over HTTP (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on over HTTP (default: 8765)")
    parser.add_argument("--toolsets", default=None,
                        help=f"comma-separated: {', '.join(TOOLSETS)}, or all (default: {', '.join(DEFAULT_TOOLSETS)})")
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)  # refused: visible in ps
    parser.add_argument("--token-file", default=None,
                        help="file holding the bearer token (else HPCBRIDGE_HTTP_TOKEN, the config, or one "
                             "generated into the state directory)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="hpcbridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hpcbridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the MCP server")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                       help="stdio (default: an MCP client starts the server) or http (streamable HTTP at /mcp "
                            "and the dashboard; a bearer token is always required)")
    _http_arguments(serve)
    dashboard = sub.add_parser("dashboard", help="serve the web dashboard (and /mcp) over HTTP, print its URL")
    _http_arguments(dashboard)
    call = sub.add_parser("call", help="run one tool and print its result")
    call.add_argument("tool", help="a tool name (`hpcbridge tools`; `hpcbridge tools NAME` shows its parameters); every "
                                      "toolset is callable here")
    call.add_argument("arguments", nargs="*", help="key=value (values parsed as JSON when they are)")
    call.add_argument("--json", action="store_true", help="print the structured result")
    check = sub.add_parser("check", help="say what works and what does not")
    check.add_argument("--cluster", default=None, help="only this cluster (default: every configured one)")
    login = sub.add_parser("login", help="log in once to an openssh cluster (two-factor sites); commands ride it")
    login.add_argument("cluster", nargs="?", default=None, help="a cluster with transport = \"openssh\" "
                                                                "(default: the default cluster)")
    tools = sub.add_parser("tools", help="list the tools of the configured toolsets")
    tools.add_argument("--sizes", action="store_true", help="what each toolset costs an agent's context")
    tools.add_argument("names", nargs="*", metavar="TOOL", help="show these tools' parameters (any toolset)")
    cli_admin.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "cluster":  # before load_settings: the file may have no cluster yet
            return cli_admin.cluster_command(args)
        if args.command == "settings":
            return cli_settings.settings_command(args)
        settings = _settings_for_tools() if args.command == "tools" else load_settings()
        _setup_logging(settings.log_level if args.command in ("serve", "dashboard") else "WARNING")
        if args.command not in ("serve", "dashboard"):  # fastmcp logs each tool error; the CLI prints it once itself
            for name in ("fastmcp", "FastMCP"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            # the recorder polls the same cluster the call asked: its "history of X: cannot reach ..." would
            # print the call's own error a second time
            logging.getLogger("hpcbridge.history").setLevel(logging.ERROR)
        if args.command == "dashboard":
            args.transport = "http"
        if args.command in ("serve", "dashboard"):
            return _serve(args, settings)
        if args.command == "call":
            return asyncio.run(_call(settings, args.tool, args.arguments, args.json))
        if args.command == "history":
            return cli_admin.history_command(args)
        if args.command == "tools":
            return asyncio.run(_tools(settings, args.sizes, args.names))
        if args.command == "login":
            from .login import login

            return login(settings, args.cluster)
        from .checks import run_checks

        return asyncio.run(run_checks(settings, args.cluster))
    except HpcBridgeError as exc:
        print(f"hpcbridge: {exc}", file=sys.stderr)  # noqa: hook - CLI message on stderr
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
