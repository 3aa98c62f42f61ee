"""The OpenAPI 3 description of the HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from ..storage.background_store import MAX_NAME_LENGTH, THUMBNAIL_WIDTHS

_SEAT = {"type": "object", "additionalProperties": False, "required": ["x", "y", "width", "height"],
         "description": "A seat as fractions of the scene (inside it)",
         "properties": {"x": {"type": "number", "minimum": 0, "maximum": 1},
                        "y": {"type": "number", "minimum": 0, "maximum": 1},
                        "width": {"type": "number", "minimum": 0, "maximum": 1},
                        "height": {"type": "number", "minimum": 0, "maximum": 1}}}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _errors(*statuses: int) -> dict:
    texts = {400: "Bad request (the detail says what is wrong)", 401: "Missing or wrong admin token",
             404: "No such background", 413: "Upload too large (bytes or pixels)",
             415: "Unsupported image type (JPEG, PNG and WebP are accepted)"}
    return {str(status): _error(texts[status]) for status in statuses}


_ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "Background id (16 hex digits)"}
_ADMIN = [{"adminToken": []}]


def openapi_document(max_upload_bytes: int) -> dict:
    """The API's description; ``max_upload_bytes`` is this server's upload limit."""
    background = {"$ref": "#/components/schemas/Background"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Backdrop admin API", "version": "1.0.0",
                 "description": "Backgrounds (upload, list, images, delete), room settings and moderation. Admin routes "
                                "need 'Authorization: Bearer <admin token>'. Errors are JSON "
                                "{\"error\": CODE, \"detail\": TEXT}."},
        "paths": {
            "/api/backgrounds": {
                "get": {"summary": "List uploaded backgrounds", "operationId": "listBackgrounds",
                        "responses": {"200": {"description": "Every uploaded background, oldest first",
                                              "content": {"application/json": {"schema": {
                                                  "type": "array", "items": background}}}}}},
                "post": {"summary": "Upload a background (JPEG, PNG or WebP)", "operationId": "uploadBackground",
                         "security": _ADMIN,
                         "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                             "type": "object", "required": ["file"],
                             "properties": {
                                 "file": {"type": "string", "format": "binary",
                                          "description": f"The image, at most {max_upload_bytes} bytes"},
                                 "name": {"type": "string", "maxLength": MAX_NAME_LENGTH,
                                          "description": "Display name (default: the file's name)"}}}}}},
                         "responses": {"201": {"description": "Stored",
                                               "headers": {"Location": {"schema": {"type": "string"}}},
                                               "content": {"application/json": {"schema": background}}},
                                       **_errors(400, 401, 413, 415)}},
            },
            "/api/backgrounds/{id}": {
                "get": {"summary": "Describe one background", "operationId": "getBackground",
                        "parameters": [_ID_PARAMETER],
                        "responses": {"200": {"description": "The background",
                                              "content": {"application/json": {"schema": background}}},
                                      **_errors(404)}},
                "delete": {"summary": "Delete a background; its users fall back to the default",
                           "operationId": "deleteBackground", "security": _ADMIN, "parameters": [_ID_PARAMETER],
                           "responses": {"204": {"description": "Deleted"}, **_errors(401, 404)}},
            },
            "/api/backgrounds/{id}/image": {
                "get": {"summary": "The image, or a thumbnail when width is given", "operationId": "getBackgroundImage",
                        "parameters": [_ID_PARAMETER, {
                            "name": "width", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": THUMBNAIL_WIDTHS[0],
                                       "maximum": THUMBNAIL_WIDTHS[1]},
                            "description": "Thumbnail width in pixels (never upscaled)"}],
                        "responses": {"200": {"description": "JPEG image",
                                              "content": {"image/jpeg": {"schema": {"type": "string",
                                                                                     "format": "binary"}}}},
                                      **_errors(400, 404)}},
            },
            "/api/rooms": {
                "get": {"summary": "Active rooms, participants and each stream's live quality",
                        "operationId": "listRooms", "security": _ADMIN,
                        "responses": {"200": {"description": "Active rooms", "content": {"application/json": {
                            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/ActiveRoom"}}}}},
                            **_errors(401)}},
            },
            "/api/rooms/{room}": {
                "put": {"summary": "Set a room's background, statistic, probing and scene mode, applied live to everyone in it",
                        "operationId": "putRoom", "security": _ADMIN,
                        "parameters": [{"name": "room", "in": "path", "required": True,
                                        "schema": {"type": "string"},
                                        "description": "Room name: 1-64 letters, digits, '.', '_' or '-'"}],
                        "requestBody": {"required": True, "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/RoomSettings"}}}},
                        "responses": {"200": {"description": "The room's settings now",
                                              "content": {"application/json": {"schema": {
                                                  "$ref": "#/components/schemas/RoomSettingsResult"}}}},
                                      **_errors(400, 401)}},
            },
            "/api/rooms/{room}/participants/{participant}": {
                "parameters": [{"name": "room", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "Room name"},
                               {"name": "participant", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "Participant id, or name (the earliest joined of that name)"}],
                "patch": {"summary": "Mute or unmute a participant's microphone or camera (enforced by the server)",
                          "operationId": "patchParticipant", "security": _ADMIN,
                          "requestBody": {"required": True, "content": {"application/json": {"schema": {
                              "type": "object", "additionalProperties": False, "minProperties": 1,
                              "properties": {"microphone": {"type": "boolean"}, "camera": {"type": "boolean"}}}}}},
                          "responses": {"200": {"description": "The participant now",
                                                "content": {"application/json": {"schema": {
                                                    "$ref": "#/components/schemas/ParticipantMedia"}}}},
                                        **_errors(400, 401), "404": _error("No such participant in that room")}},
                "delete": {"summary": "Remove a participant from their room (their page does not rejoin)",
                           "operationId": "deleteParticipant", "security": _ADMIN,
                           "responses": {"204": {"description": "Removed"}, **_errors(400, 401),
                                         "404": _error("No such participant in that room")}},
            },
            "/api/openapi.json": {
                "get": {"summary": "This document", "operationId": "openapi",
                        "responses": {"200": {"description": "OpenAPI 3 document",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}},
            },
        },
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"],
                          "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
                "Background": {"type": "object", "required": ["id", "name", "width", "height", "bytes", "created"],
                               "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                              "width": {"type": "integer"}, "height": {"type": "integer"},
                                              "bytes": {"type": "integer", "description": "Stored file size"},
                                              "created": {"type": "string", "format": "date-time"}}},
                "RoomSettings": {"type": "object", "additionalProperties": False, "properties": {
                    "background_id": {"type": "string", "nullable": True,
                                      "description": "An uploaded background's id or a built-in key "
                                                     "(builtin:studio, builtin:lights, or builtin:blur: each "
                                                     "participant's own room, blurred; a shared scene "
                                                     "shows the default instead); null: the default"},
                    "statistic": {"type": "string", "nullable": True,
                                  "description": "mean, median, max or pNN (e.g. p90); null: the server's"},
                    "latency_probe": {"type": "boolean",
                                      "description": "Everyone in the room is a latency probe: the top-left "
                                                     "256x64 pixels of their frames pass through unmodified"},
                    "mode": {"type": "string", "enum": ["individual", "scene"],
                             "description": "individual: each participant's own composite; scene: everyone in "
                                            "one shared scene, matched to the weakest stream"},
                    "layout": {"type": "string", "enum": ["cohost", "row", "grid", "seats"]},
                    "seats": {"type": "array", "nullable": True, "minItems": 1, "maxItems": 9,
                              "description": "Seat boxes of the seats layout, fractions of the scene background",
                              "items": _SEAT},
                    "scene_statistic": {"type": "string", "enum": ["min", "median", "mean"],
                                        "description": "How the seats' qualities combine into the scene's "
                                                       "target (min: the weakest seat)"},
                    "participants_set_mode": {"type": "boolean",
                                              "description": "Participants may switch mode and layout"}}},

                "RoomSettingsResult": {"type": "object", "required": ["room", "background_id", "statistic"],
                                       "properties": {"room": {"type": "string"},
                                                      "background_id": {"type": "string", "nullable": True},
                                                      "statistic": {"type": "string", "nullable": True},
                                                      "latency_probe": {"type": "boolean"},
                                                      "mode": {"type": "string"}, "layout": {"type": "string"},
                                                      "seats": {"type": "array", "nullable": True,
                                                                "items": _SEAT},
                                                      "scene_statistic": {"type": "string"},
                                                      "participants_set_mode": {"type": "boolean"},
                                                      "participants": {"type": "integer"}}},
                "ParticipantMedia": {"type": "object", "required": ["id", "name", "room", "microphone", "camera"],
                                     "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                    "room": {"type": "string"}, "microphone": {"type": "boolean"},
                                                    "camera": {"type": "boolean"}}},
                "ActiveRoom": {"type": "object", "required": ["room", "participants"], "properties": {
                    "room": {"type": "string"},
                    "background_id": {"type": "string", "nullable": True},
                    "statistic": {"type": "string", "nullable": True},
                    "participants": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"},
                        "quality": {"type": "number", "nullable": True,
                                    "description": "The stream's live estimated loss (statistic of the matrix)"},
                        "stream": {"type": "object"}}}}}},
            },
        },
    }
