package notify

import "slices"

// route returns the receivers a change goes to, in order and without duplicates. The labels seen by routes
// are the change's labels plus "alertname". With PublishMQTT every change also goes to MQTTReceiverName.
func (c *compiled) route(ch Change) []string {
	out := c.routeReceivers(ch)
	if c.cfg.PublishMQTT && !slices.Contains(out, MQTTReceiverName) {
		out = append(out, MQTTReceiverName)
	}
	return out
}

func (c *compiled) routeReceivers(ch Change) []string {
	labels := make(map[string]string, len(ch.Labels)+1)
	for k, v := range ch.Labels {
		labels[k] = v
	}
	if _, ok := labels["alertname"]; !ok {
		labels["alertname"] = ch.Name
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range c.routes {
		if !r.matches(labels) {
			continue
		}
		if !seen[r.receiver] {
			seen[r.receiver] = true
			out = append(out, r.receiver)
		}
		if !r.cont {
			return out
		}
	}
	if len(out) == 0 && c.cfg.DefaultReceiver != "" {
		out = append(out, c.cfg.DefaultReceiver)
	}
	return out
}

func (r compiledRoute) matches(labels map[string]string) bool {
	for k, v := range r.match {
		if labels[k] != v {
			return false
		}
	}
	for k, re := range r.matchRE {
		if !re.MatchString(labels[k]) {
			return false
		}
	}
	return true
}
