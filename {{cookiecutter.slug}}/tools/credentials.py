"""Codabench API tokens: where `make upload`, `make submit` and `make leaderboard` find one, and `make login`.

    python tools/credentials.py login [--server URL] [--username NAME] [--password-stdin]
    make login [CODABENCH=URL]                               # asks the username and the password
    echo "$PASSWORD" | make login CODABENCH_USERNAME=name     # no terminal: the password from standard input

A token is looked for, in order, in the environment variable CODABENCH_TOKEN (a CI secret, say) and in
tokens.json in the user's config folder ($XDG_CONFIG_HOME/codabench, else ~/.config/codabench), one per
site. `make login` asks for the Codabench username and password (the password is not echoed; a
site account made through GitHub or Google sets one with "Forgot password"), gets the token from
Codabench's /api/api-token-auth/ and writes it there, readable by its owner only. A tokens file that
others can read is refused rather than used. Nothing here prints, logs or writes a token elsewhere:
never in the bundle, its zip, a run folder or git.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import stat
import sys
from pathlib import Path

from codabench_client import DEFAULT_SERVER, TOKEN_VARIABLE, Codabench, CodabenchError, login_hint, normalize_server

ENVIRONMENT = TOKEN_VARIABLE


TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9._~+/=-]{1,512}$")  # DRF's are 40 hex digits


def tokens_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG rule: a relative one is ignored (it would put tokens in the bundle)
        base = Path.home() / ".config"
    return Path(base) / "codabench" / "tokens.json"


def _shaped(token: str, where: str) -> str:
    if not TOKEN_SHAPE.match(token):
        raise CodabenchError(f"the API token in {where} has characters or a length no token has (a space, a quote, a "
                             f"line break?): set it again from {login_hint(DEFAULT_SERVER).strip('`')} or the site")
    return token


def _read_tokens(path: Path, *, replacing: bool = False) -> dict:
    """The tokens file's contents; one others can read is refused, unless it is about to be replaced owner-only."""
    if not path.is_file():
        return {}
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO) and not replacing:
        raise CodabenchError(f"{path} can be read by other users, so it is not used: `chmod 600 {path}`, then run the "
                             f"command again (`make login` also rewrites it owner-only)")
    try:
        tokens = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CodabenchError(f"{path} is not a tokens file ({error}): delete it and run `make login`") from None
    if not isinstance(tokens, dict):
        raise CodabenchError(f"{path} is not a tokens file: delete it and run `make login`")
    return tokens


def find_token(server: str) -> str:
    """The API token for `server`: from $CODABENCH_TOKEN, else the tokens file; CodabenchError naming the fix."""
    token = os.environ.get(ENVIRONMENT, "").strip()
    if token:
        return _shaped(token, ENVIRONMENT)
    path = tokens_file()
    token = _read_tokens(path).get(server)
    if isinstance(token, str) and token.strip():
        return _shaped(token.strip(), str(path))
    raise CodabenchError(f"no Codabench API token for {server}: run {login_hint(server)} once (it asks your "
                         f"username and password), or set {ENVIRONMENT}")


def save_token(server: str, token: str) -> Path:
    """Write the token for `server` to the tokens file, owner-only, replacing the file in one step."""
    path = tokens_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tokens = _read_tokens(path, replacing=True)
    tokens[server] = token
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(tokens, handle, indent=1)
    os.replace(partial, path)
    return path


def login(server: str, username: str, password: str) -> Path:
    """Exchange a username and password for the account's API token, and keep it."""
    client = Codabench(server, None)
    try:
        answer = client.call("POST", "/api/api-token-auth/", {"username": username, "password": password},
                             repeatable=True)  # only reads the token (made once per account)
    except CodabenchError as error:
        if "Unable to log in" in str(error):
            raise CodabenchError(f"{client.server} did not accept that username and password: check them on the site's "
                                 f"login page (an account made with GitHub or Google needs a password: "
                                 f"\"Forgot password\")") from None
        raise
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise CodabenchError(f"{client.server} gave no token: is CODABENCH= the address of a Codabench site?")
    return save_token(client.server, token)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["login"])
    parser.add_argument("--server", default=os.environ.get("MK_CODABENCH") or DEFAULT_SERVER,
                        help=f"the Codabench site (default: {DEFAULT_SERVER})")
    parser.add_argument("--username", default=os.environ.get("MK_CODABENCH_USERNAME") or os.environ.get("CODABENCH_USERNAME") or None,
                        help="your Codabench username (asked when not given)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (the default without a terminal)")
    args = parser.parse_args(argv)
    try:
        server = normalize_server(args.server)
        username = (args.username or "").strip()
        if args.password_stdin or not sys.stdin.isatty():
            if not username:
                raise CodabenchError("without a terminal, make login reads the password from standard input and needs "
                                     "the username: echo \"$PASSWORD\" | make login CODABENCH_USERNAME=name")
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            username = username or input(f"Codabench username at {server}: ").strip()
            if not username:
                raise CodabenchError("no username given: nothing was changed")
            password = getpass.getpass(f"Password for {username} at {server}: ")
        if not username or not password:
            raise CodabenchError("a username and a password are needed: nothing was changed")
        path = login(server, username, password)
    except CodabenchError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("\nERROR: stopped: nothing was changed", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"ERROR: cannot write {error.filename or 'the tokens file'}: {error.strerror}: nothing was changed",
              file=sys.stderr)
        return 1
    print(f"Logged in to {server} as {username}: its API token is in {path} (readable by you only). "
          f"make upload, submit and leaderboard use it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
