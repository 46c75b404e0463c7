"""The three PATCH dialects the API server accepts, applied to plain JSON values.

kubectl-equivalent actions send different dialects (restart and set env: strategic
merge; undo: JSON patch; scale: merge patch), and the classic bugs are dialect bugs:
a merge patch that replaces the whole `containers` list, a JSON patch `replace` of a
missing key. So each is implemented to the spec, with the server's status codes:
400 for a body that is not a patch, 422 for a patch that does not apply.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
}
"""`patchStrategy: merge` lists and their `patchMergeKey`, from the Kubernetes OpenAPI.

Keyed by field name only, which is exact for the workload and pod types served here.
`volumeMounts` merge on `mountPath`, not `name`, exactly as the real schema says.
"""

PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})
"""Lists of scalars with `patchStrategy: merge`: the patch is unioned in."""


class PatchError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def apply(content_type: str, doc: Any, patch: Any) -> Any:
    """Apply `patch` to a copy of `doc` according to the (already validated) content type."""
    if content_type == JSON_PATCH:
        return json_patch(doc, patch)
    if not isinstance(patch, dict):
        raise PatchError(
            400, f"json: cannot unmarshal {_go_type(patch)} into Go value of type map[string]interface {{}}"
        )
    if content_type == MERGE_PATCH:
        return merge_patch(doc, patch)
    return strategic_merge_patch(doc, patch)


def _go_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "object"


# --- RFC 6902 ------------------------------------------------------------------------------------


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError(400, f"json: cannot unmarshal {_go_type(ops)} into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(
                400, f"json: cannot unmarshal {_go_type(op)} into Go value of type jsonpatch.Operation"
            )
        doc = _apply_op(doc, op)
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, f'invalid JSON pointer "{path}": must start with "/"')
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(token: str, size: int, *, allow_end: bool, path: str) -> int:
    if not token.isdigit():
        raise PatchError(422, f'invalid array index "{token}" in path "{path}"')
    idx = int(token)
    if idx > size or (idx == size and not allow_end):
        raise PatchError(422, f'array index out of bounds: "{path}"')
    return idx


def _resolve(doc: Any, tokens: list[str], path: str, verb: str) -> Any:
    cur = doc
    for token in tokens:
        if isinstance(cur, dict) and token in cur:
            cur = cur[token]
        elif isinstance(cur, list) and token.isdigit() and int(token) < len(cur):
            cur = cur[int(token)]
        else:
            raise PatchError(
                422, f'{verb} operation does not apply: doc is missing path: "{path}": missing value'
            )
    return cur


def _get(doc: Any, path: str, verb: str) -> Any:
    return _resolve(doc, _pointer(path), path, verb)


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], path, "add")
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        idx = len(parent) if last == "-" else _index(last, len(parent), allow_end=True, path=path)
        parent.insert(idx, value)
    else:
        raise PatchError(422, f'add operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def _remove(doc: Any, path: str, verb: str = "remove") -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError(422, f"{verb} operation does not apply: cannot remove the document root")
    parent = _resolve(doc, tokens[:-1], path, verb)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise PatchError(
        422, f"error in {verb} for path: '{path}': Unable to remove nonexistent key: {last}: missing value"
    )


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op.get("op"), op.get("path")
    if not isinstance(path, str):
        raise PatchError(422, f"{kind} operation missing path")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(422, f"{kind} operation has no value")
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        tokens = _pointer(path)
        if tokens:
            parent = _resolve(doc, tokens[:-1], path, "replace")
            last = tokens[-1]
            if isinstance(parent, dict) and last not in parent:
                raise PatchError(
                    422, f"replace operation does not apply: doc is missing key: {path}: missing value"
                )
            if isinstance(parent, list) and not (last.isdigit() and int(last) < len(parent)):
                raise PatchError(
                    422, f"replace operation does not apply: doc is missing key: {path}: missing value"
                )
            doc, _ = _remove(doc, path, "replace")
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise PatchError(422, f"{kind} operation missing from")
        if kind == "move":
            doc, value = _remove(doc, source, "move")
        else:
            value = copy.deepcopy(_get(doc, source, "copy"))
        return _add(doc, path, value)
    if kind == "test":
        if not json_equal(_get(doc, path, "test"), op["value"]):
            raise PatchError(422, f"testing value {path} failed: test failed")
        return doc
    raise PatchError(422, f"Unexpected kind: {kind}")


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# --- RFC 7386 ------------------------------------------------------------------------------------


def merge_patch(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- strategic merge patch -----------------------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge_patch(doc: Any, patch: dict[str, Any]) -> Any:
    merged = _smp_map(doc if isinstance(doc, dict) else {}, patch)
    return {} if merged is None else merged


def _strip(value: Any) -> Any:
    """A patch value copied in wholesale, minus any `$` directives."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _smp_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip(patch)  # type: ignore[no-any-return]
    if directive is not None:
        raise PatchError(400, f"Unknown patch directive: {directive}")
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _smp_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS:
            current = result.get(key)
            result[key] = _smp_list(current if isinstance(current, list) else [], value, MERGE_KEYS[key], key)
        elif isinstance(value, list) and key in PRIMITIVE_MERGE_LISTS:
            current = result.get(key)
            merged_list = list(current) if isinstance(current, list) else []
            merged_list.extend(v for v in value if v not in merged_list)
            result[key] = merged_list
        else:
            result[key] = _strip(value)
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVE) and isinstance(value, list):
            field = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
        elif key.startswith(_ORDER) and isinstance(value, list):
            field = key[len(_ORDER) :]
            if isinstance(result.get(field), list):
                result[field] = _reorder(result[field], value, MERGE_KEYS.get(field))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain or k in patch}
    return result


def _smp_list(original: list[Any], patch: list[Any], merge_key: str, field: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip(item) for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(422, f"map: {item!r} does not contain declared merge key: {merge_key}")
        key = item[merge_key]
        idx = next(
            (i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(merge_key) == key),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        merged = _smp_map(result[idx] if idx is not None else {}, item)
        if merged is None:
            continue
        if idx is None:
            result.append(merged)
        else:
            result[idx] = merged
    return result


def _reorder(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Honour `$setElementOrder`: listed elements first, in order; the rest keep their order."""

    def key_of(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [key_of(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda p: (wanted.index(key_of(p[1])) if key_of(p[1]) in wanted else len(wanted), p[0]),
    )
    return [item for _, item in ranked]
