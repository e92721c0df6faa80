package kefutest

// Internals that the tests of package kefutest_test inspect.

// CountedPaths returns the paths the server keeps a call count for.
func (s *Server) CountedPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.calls))
	for p := range s.calls {
		out = append(out, p)
	}
	return out
}

// Kept returns how many entries each of the server's other tables holds,
// for the tables that hold any.
func (s *Server) Kept() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for name, n := range map[string]int{
		"tokens":    len(s.tokens.all),
		"users":     len(s.users),
		"media":     len(s.media),
		"faults":    len(s.faults),
		"accounts":  len(s.mg.accounts),
		"sessions":  len(s.mg.sessions),
		"waiting":   len(s.mg.waiting),
		"records":   len(s.mg.records),
		"uploads":   len(s.mg.uploads),
		"expires":   len(s.mg.expires),
		"requests":  len(s.log.ring),
		"templates": len(s.tpl.ids),
		"refusals":  len(s.tpl.refuse),
		"msg_ids":   len(s.tpl.sent),
	} {
		if n > 0 {
			out[name] = n
		}
	}
	return out
}

// QuotaPaths returns how many paths the server keeps quota counts for: at
// most its own, however many paths quota/get is asked about.
func (s *Server) QuotaPaths() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lim.use)
}
