"""The API's error envelope, said in the reader's language.

``{"error": {"code": …, "message": …}}``: the code is for programs, the
message for people. :func:`error` writes the message in French (the
source language) and keeps its :class:`~appliance.problems.Problem` on the
response; :func:`error_language_middleware`, the app's outermost, says it
again in the request's language once the session middleware has chosen it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from appliance.i18n import SOURCE_LANGUAGE
from appliance.problems import Problem, problem_of
from appliance.web.keys import LANG_KEY
from appliance.web.rendering import request_gettext

# The code and the problem of an error envelope, said again on the way out.
_PROBLEM: Final = web.ResponseKey[tuple[str, Problem]]("problem")


def error(
    status: int, code: str, message: str | Problem | BaseException, **values: object
) -> web.Response:
    """Return the API's error envelope: ``message`` is a French id marked ``N_``, or a refusal.

    The body says it in French; :func:`error_language_middleware` says it
    again in the request's language.
    """
    problem = Problem(message, values) if isinstance(message, str) else problem_of(message)
    response = web.json_response({"error": {"code": code, "message": str(problem)}}, status=status)
    response[_PROBLEM] = (code, problem)
    return response


@web.middleware
async def error_language_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Say an error envelope's message in the request's language."""
    response = await handler(request)
    told = response.get(_PROBLEM) if isinstance(response, web.Response) else None
    if told is not None and request.get(LANG_KEY, SOURCE_LANGUAGE) != SOURCE_LANGUAGE:
        assert isinstance(response, web.Response)  # noqa: S101 - checked above
        code, problem = told
        message = problem.said(request_gettext(request))
        response.text = json.dumps({"error": {"code": code, "message": message}})
    return response
