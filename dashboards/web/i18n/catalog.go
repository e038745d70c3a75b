// Package catalog embeds the translation files of the web UI, i18n/<lang>.json, for the server's own texts
// (notifications, exports): one file per language serves both, so a text is translated in one place and
// TestUIStringsTranslated checks every language has every key. The runtime is citywatch/internal/i18n.
//
// This Go file sits beside the JSON files because go:embed cannot reach into a parent directory; it is
// served with the UI's static files like any other (it holds no secret).
package catalog

import "embed"

// Files holds en.json and vi.json.
//
//go:embed en.json vi.json
var Files embed.FS
