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
                 "description": "Backgrounds (upload, list, images, delete), room settings, moderation and "
                                "recordings. Admin routes "
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
                                       **_errors(400, 401, 413, 415), "503": _error("In a cluster: its Redis cannot be reached (store_unavailable, placement_unavailable)")}},
            },
            "/api/backgrounds/{id}": {
                "get": {"summary": "Describe one background", "operationId": "getBackground",
                        "parameters": [_ID_PARAMETER],
                        "responses": {"200": {"description": "The background",
                                              "content": {"application/json": {"schema": background}}},
                                      **_errors(404)}},
                "delete": {"summary": "Delete a background; its users fall back to the default",
                           "operationId": "deleteBackground", "security": _ADMIN, "parameters": [_ID_PARAMETER],
                           "responses": {"204": {"description": "Deleted"}, **_errors(401, 404),
                                         "503": _error("In a cluster: its Redis cannot be reached (store_unavailable, placement_unavailable)")}},
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
                "get": {"summary": "Active rooms of every node of the cluster, participants and each stream's "
                                   "live quality (another node's rooms as it last reported them, up to 2 s old)",
                        "operationId": "listRooms", "security": _ADMIN,
                        "responses": {"200": {"description": "Active rooms", "content": {"application/json": {
                            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/ActiveRoom"}}}}},
                            **_errors(401)}},
            },
            "/api/nodes": {
                "get": {"summary": "The cluster's live nodes, the rooms each hosts and its participant count "
                                   "(one node, this one, without a cluster)",
                        "operationId": "listNodes", "security": _ADMIN,
                        "responses": {"200": {"description": "Live nodes by id", "content": {"application/json": {
                            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}},
                            **_errors(401), "503": _error("The cluster's Redis cannot be reached")}},
            },
            "/api/nodes/{node}": {
                "put": {"summary": "Drain this node (it takes no new rooms; its rooms go on and take new members) "
                                   "or let it take new rooms again",
                        "operationId": "putNode", "security": _ADMIN,
                        "parameters": [{"name": "node", "in": "path", "required": True, "schema": {"type": "string"},
                                        "description": "This node's id, or 'this'"}],
                        "requestBody": {"required": True, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["draining"], "additionalProperties": False,
                            "properties": {"draining": {"type": "boolean"}}}}}},
                        "responses": {"200": {"description": "This node now", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Node"}}}},
                            "400": _error("The body is not {\"draining\": true|false}"), **_errors(401),
                            "404": _error("No live node of that id"),
                            "409": _error("Another node's id: ask that node (node_elsewhere, its URL in the detail)"),
                            "503": _error("The cluster's Redis cannot be reached (the node drains anyway; the others "
                                          "learn it with its next report)")}},
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
                                      **_errors(400, 401), "409": _error("In a cluster: another node hosts the room live (room_elsewhere; the detail names it)"),
                                      "503": _error("In a cluster: its Redis cannot be reached (store_unavailable, placement_unavailable)")}},
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
                                        **_errors(400, 401), "404": _error("No such participant in that room"),
                                        "409": _error("In a cluster: another node hosts the room live (room_elsewhere; the detail names it)")}},
                "delete": {"summary": "Remove a participant from their room (their page does not rejoin)",
                           "operationId": "deleteParticipant", "security": _ADMIN,
                           "responses": {"204": {"description": "Removed"}, **_errors(400, 401),
                                         "404": _error("No such participant in that room"), "409": _error("In a cluster: another node hosts the room live (room_elsewhere; the detail names it)")}},
            },
            **_recording_paths(),
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
                                  "description": "mean, median, max or pNN (e.g. p90) over the whole frame, or "
                                                 "person-mean, person-p90... over the blocks the person covers; "
                                                 "null: the server's"},
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
                                              "description": "Participants may switch mode and layout"},
                    "participants_set_background": {"type": "boolean",
                                                    "description": "Participants may pick their own background "
                                                                   "(one of everyone's, or their own picture); "
                                                                   "false: everyone gets the room's"}}},

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
                                                      "participants_set_background": {"type": "boolean"},
                                                      "participants": {"type": "integer"}}},
                "ParticipantMedia": {"type": "object", "required": ["id", "name", "room", "microphone", "camera"],
                                     "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                    "room": {"type": "string"}, "microphone": {"type": "boolean"},
                                                    "camera": {"type": "boolean"}}},
                "Recording": _RECORDING,
                "Node": {"type": "object", "required": ["id", "url", "rooms", "participants", "this"], "properties": {
                    "id": {"type": "string"}, "url": {"type": "string", "description": "Base URL clients reach"},
                    "rooms": {"type": "array", "items": {"type": "string"}},
                    "participants": {"type": "integer"},
                    "started_at": {"type": "number", "description": "Unix time"},
                    "seen_at": {"type": "number", "description": "Unix time of its last report"},
                    "capacity": {"type": "integer", "description": "Participants it takes in all (0: no limit)"},
                    "draining": {"type": "boolean", "description": "It takes no new rooms"},
                    "this": {"type": "boolean", "description": "The node that answered"}}},
                "ActiveRoom": {"type": "object", "required": ["room", "participants", "node", "this"], "properties": {
                    "room": {"type": "string"},
                    "node": {"type": "string", "description": "Id of the node hosting the room"},
                    "node_url": {"type": "string", "description": "That node's base URL (empty without a cluster)"},
                    "this": {"type": "boolean", "description": "Whether the node that answered hosts it: what "
                                                               "is asked of the room must be asked of its node"},
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


_RECORDING = {"type": "object", "required": ["id", "room", "source", "source_name", "started_at", "state"], "properties": {
    "id": {"type": "string"}, "room": {"type": "string"},
    "source": {"type": "string", "description": "scene, or the recorded participant's id"},
    "source_name": {"type": "string"}, "started_at": {"type": "number", "description": "Unix seconds"},
    "state": {"type": "string", "enum": ["recording", "stopped", "failed", "interrupted"]},
    "stopped_at": {"type": "number", "nullable": True},
    "reason": {"type": "string", "nullable": True,
               "description": "stopped, source_ended (the participant left, the scene closed), server_stopped, "
                              "server_restarted, or what failed"},
    "bytes": {"type": "integer"}, "video_frames": {"type": "integer"}, "audio_frames": {"type": "integer"},
    "dropped": {"type": "integer", "description": "Frames lost because the writer fell behind"},
    "seconds": {"type": "number", "description": "Media time written"},
    "node": {"type": "string", "description": "In a listing: id of the node keeping the recording"},
    "node_url": {"type": "string", "description": "In a listing: that node's base URL (empty without a cluster)"},
    "this": {"type": "boolean", "description": "In a listing: whether the node that answered keeps it; what is "
                                               "asked of a recording is asked of its node"}}}


def _recording_paths() -> dict:
    recording = {"$ref": "#/components/schemas/Recording"}
    one = [{"name": "recording", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "Recording id"}]
    missing = _error("No such recording")
    elsewhere = _error("Another node of the cluster keeps the recording (recording_elsewhere; the detail names "
                       "the URL to ask)")
    return {
        "/api/rooms/{room}/recordings": {
            "parameters": [{"name": "room", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "Room name"}],
            "post": {"summary": "Record a participant's composite or the room's shared scene to WebM (VP8 as the "
                                "room gets it, sound in Opus) until stopped or the source ends",
                     "operationId": "startRecording", "security": _ADMIN,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "additionalProperties": False,
                         "properties": {"participant": {"type": "string", "description": "Id, or name"},
                                        "view": {"type": "string", "enum": ["scene"]}}}}}},
                     "responses": {"201": {"description": "Recording", "content": {"application/json": {
                         "schema": recording}}}, **_errors(400, 401),
                         "404": _error("No such participant in that room"),
                         "409": _error("Already recording that source, or the room has no scene, or (in a cluster) "
                                       "another node hosts the room (room_elsewhere)"),
                         "503": _error("Too many recordings at once"),
                         "507": _error("Too little free disk space")}},
        },
        "/api/recordings": {
            "get": {"summary": "Every recording of the cluster, oldest first (another node's newest 200, as it "
                               "last reported them)", "operationId": "listRecordings", "security": _ADMIN,
                    "responses": {"200": {"description": "Recordings", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"recordings": {"type": "array", "items": recording}}}}}},
                        **_errors(401)}},
        },
        "/api/recordings/{recording}": {
            "parameters": one,
            "get": {"summary": "A recording", "operationId": "getRecording", "security": _ADMIN,
                    "responses": {"200": {"description": "Recording", "content": {"application/json": {
                        "schema": recording}}}, **_errors(401), "404": missing, "409": elsewhere}},
            "delete": {"summary": "Delete a recording (stopped first if it runs)", "operationId": "deleteRecording",
                       "security": _ADMIN,
                       "responses": {"204": {"description": "Deleted"}, **_errors(401), "404": missing,
                                     "409": elsewhere}},
        },
        "/api/recordings/{recording}/stop": {
            "parameters": one,
            "post": {"summary": "Stop a running recording (answers once its file is complete)",
                     "operationId": "stopRecording", "security": _ADMIN,
                     "responses": {"200": {"description": "Recording", "content": {"application/json": {
                         "schema": recording}}}, **_errors(401), "404": missing,
                         "409": _error("Already stopped, or another node keeps it (recording_elsewhere)")}},
        },
        "/api/recordings/{recording}/file": {
            "parameters": one,
            "get": {"summary": "The recording's WebM file", "operationId": "getRecordingFile", "security": _ADMIN,
                    "responses": {"200": {"description": "WebM", "content": {"video/webm": {"schema": {
                        "type": "string", "format": "binary"}}}}, **_errors(401),
                        "404": _error("No such recording, or nothing was recorded"),
                        "409": _error("Still recording, or another node keeps it (recording_elsewhere)")}},
        },
    }