package app

import (
	"io"
	"log/slog"
	"strings"
)

// Version is the build's version, set with -ldflags "-X citywatch/app.Version=...".
var Version = "dev"

// NewLogger builds the process logger: level is debug|info|warn|error, format text|json. Unknown values fall back
// to info and text (the configuration has already validated them).
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if strings.ToLower(format) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
