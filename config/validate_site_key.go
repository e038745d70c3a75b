package config

// siteKey validates a site named at path as the key of a list of per-site entries (sites, ward.sites): present,
// listed once (seen holds the keys before it) and plain text.
func (v validator) siteKey(path, site string, seen map[string]bool) {
	switch {
	case site == "":
		v.add(path, "is required")
	case seen[site]:
		v.add(path, "is listed twice; got %q", site)
	}
	seen[site] = true
	v.text(path, site)
}
