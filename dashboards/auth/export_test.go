package auth

// SetCheckHook makes every login call f just before it checks a password (under the hashing bound), so tests
// can count password checks and hold them to build a truly parallel burst.
func SetCheckHook(a *Auth, f func()) { a.checkHook = f }
