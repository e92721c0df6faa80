// Package compare measures kefu against other WeChat SDKs on the same work,
// side by side in one run. It is a module of its own so that those SDKs
// never enter kefu's go.mod; it is not published.
package compare
