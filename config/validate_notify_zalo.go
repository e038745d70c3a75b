package config

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// zaloReceiver validates the keys of format zalo: a user id and an access token, which is never quoted.
func (v validator) zaloReceiver(p string, r *ReceiverConfig) {
	tokenKey := p + ".zalo_access_token"
	if r.ZaloAccessTokenFile != "" {
		tokenKey += "_file"
	}
	if r.Format != NotifyFormatZalo {
		if r.ZaloUserID != "" {
			v.add(p+".zalo_user_id", "is only used with format zalo; got format %s", quote(r.Format))
		}
		if r.ZaloAccessToken != "" || r.ZaloAccessTokenFile != "" {
			v.add(tokenKey, "is only used with format zalo; got format %s", quote(r.Format))
		}
		return
	}
	switch {
	case r.ZaloUserID == "":
		v.add(p+".zalo_user_id", "is required for format zalo (the user the Official Account sends to)")
	case strings.IndexFunc(r.ZaloUserID, func(c rune) bool { return c < '0' || c > '9' }) >= 0 || len(r.ZaloUserID) > 32:
		v.add(p+".zalo_user_id", "must be the numeric Zalo user id, at most 32 digits; got %s", quote(r.ZaloUserID))
	}
	tok := r.ZaloAccessToken.Value()
	switch {
	case tok == "" && r.ZaloAccessTokenFile == "":
		v.add(tokenKey, "is required for format zalo (the Official Account's access token)")
	case tok == "":
		// the file could not be read; readSecretFiles reported it
	case !utf8.ValidString(tok) || strings.IndexFunc(tok, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		v.add(tokenKey, "must not contain spaces or control characters (the value is not shown)")
	}
}
