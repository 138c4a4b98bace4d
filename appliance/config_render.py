"""Render a configuration as commented TOML that parses back to the same values.

``preau config defaults`` prints every key with its description and default;
the settings page shows the effective configuration the same way (secrets
masked there). Kept apart from :mod:`appliance.config`, which validates.
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from appliance.config import PreauConfig, build_config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, BaseModel):
        items = {
            field.alias or name: getattr(value, name)
            for name, field in type(value).model_fields.items()
            if getattr(value, name) is not None
        }
        return _toml_value(items)
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _entry_model(annotation: Any) -> type[BaseModel] | None:
    """Return the model of a list's entries (``list[Model]``), if it is one."""
    for argument in typing.get_args(annotation):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
    return None


def _render_entry_example(model: type[BaseModel], table: str, out: list[str]) -> None:
    """Show, commented, the keys one entry of an empty list of tables takes."""
    out.append(f"# Each entry is a [[{table}]] table with these keys:")
    out.append(f"# [[{table}]]")
    for name, field in model.model_fields.items():
        key = field.alias or name
        shown = "(required)" if field.is_required() else _toml_value(field.get_default(
            call_default_factory=True
        ))  # fmt: skip
        note = f"  # {field.description}" if field.description else ""
        out.append(f"# {key} = {shown}{note}")


def _render_section(model: BaseModel, prefix: str, out: list[str]) -> None:
    doc = (type(model).__doc__ or "").strip()
    out.append("")
    out.append(f"# {doc}")
    out.append(f"[{prefix}]")
    nested: list[tuple[str, BaseModel]] = []
    tables: list[tuple[str, list[BaseModel]]] = []
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            nested.append((key, value))
            continue
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            tables.append((key, value))
            continue
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(v, BaseModel) for v in value.values())
        ):
            if field.description:
                out.append(f"# {field.description} (see [{prefix}.{key}.*] below)")
            nested += [(f"{key}.{json.dumps(k)}", v) for k, v in value.items()]
            continue
        if field.description:
            out.append(f"# {field.description}")
        if value is None:
            out.append(f"# {key} = (not set)")
        else:
            out.append(f"{key} = {_toml_value(value)}")
        entry = _entry_model(field.annotation)
        if isinstance(value, list) and not value and entry is not None:
            _render_entry_example(entry, f"{prefix}.{key}", out)
    for key, items in tables:
        for item in items:
            out.append(f"[[{prefix}.{key}]]")
            for sub_name, sub_field in type(item).model_fields.items():
                sub_value = getattr(item, sub_name)
                if sub_field.description:
                    out.append(f"# {sub_field.description}")
                if sub_value is None:
                    out.append(f"# {sub_field.alias or sub_name} = (not set)")
                else:
                    out.append(f"{sub_field.alias or sub_name} = {_toml_value(sub_value)}")
    for key, sub in nested:
        _render_section(sub, f"{prefix}.{key}", out)


def render_config(config: PreauConfig, header: str) -> str:
    """Render a config as commented TOML that parses back to the same values."""
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    for name in type(config).model_fields:
        _render_section(getattr(config, name), name, out)
    return "\n".join(out) + "\n"


def render_defaults() -> str:
    """Render the fully commented default configuration."""
    return render_config(
        build_config(),
        "Préau configuration (/etc/preau/preau.toml).\n"
        "Every key is shown with its default; unknown keys are rejected.\n"
        "Check a file with: preau config check FILE",
    )
