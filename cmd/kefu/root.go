package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// newRoot builds the kefu command, its subcommands and the global flags
// they share, for one run with e.
func newRoot(e *env) *cobra.Command {
	api := &apiFlags{}
	cmds := commands(e, api)
	root := &cobra.Command{
		Use:     "kefu",
		Short:   "send WeChat customer-service messages (客服消息)",
		Version: kefu.Version,
		// Errors are printed by run, with the exit code they call for.
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(e.stderr, mainUsage(cmd, cmds))
			return errNoCommand
		},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("kefu {{.Version}}\n")
	api.register(root.PersistentFlags())
	root.AddCommand(cmds...)
	root.SetHelpCommand(helpCommand(root))
	root.SetHelpFunc(helpFunc(cmds, root.HelpFunc()))
	root.SetFlagErrorFunc(flagError)
	return root
}

// versionCommand is "kefu version", as kefu --version and kefu -v.
func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print kefu's version (also kefu --version, -v)",
		Args:  maxArgs(0),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(e.stdout, "kefu %s\n", kefu.Version)
		},
	}
}

// helpCommand is "kefu help [COMMAND]": an unknown command is a usage
// error.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "show help for a command: kefu help send",
		Args:  maxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return root.Help()
			}
			c, rest, err := root.Find(args)
			if err != nil || c == root || len(rest) > 0 {
				return usagef("unknown command %q", args[0])
			}
			return c.Help()
		},
	}
}

// helpFunc prints kefu's help: the main usage for the root, the usage and
// flags for kefu's commands, cobra's help (fallback) for cobra's own
// (completion).
func helpFunc(cmds []*cobra.Command, fallback func(*cobra.Command, []string)) func(*cobra.Command, []string) {
	return func(c *cobra.Command, args []string) {
		switch {
		case !c.HasParent():
			fmt.Fprint(c.OutOrStdout(), mainUsage(c, cmds))
		case slices.Contains(cmds, c):
			fmt.Fprint(c.OutOrStdout(), commandHelp(c))
		default:
			fallback(c, args)
		}
	}
}

// commandHelp is a command's summary, usage and flags.
func commandHelp(c *cobra.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kefu %s: %s\n\nUsage:\n%s\nFlags:\n%s", c.Name(), c.Short, c.Long, c.LocalFlags().FlagUsages())
	if c.Annotations[noGlobalFlags] == "" {
		fmt.Fprintf(&b, "\nGlobal flags (before or after the command):\n%s", c.InheritedFlags().FlagUsages())
	}
	return b.String()
}

// noGlobalFlags annotates a command that takes none of the global flags
// but those it defines itself (kefu fake).
const noGlobalFlags = "kefu-no-global-flags"

// withoutGlobalFlags marks cmd as taking none of the global flags but those
// it defines itself: its help leaves them out, and one given is a usage
// error.
func withoutGlobalFlags(cmd *cobra.Command) *cobra.Command {
	cmd.Annotations = map[string]string{noGlobalFlags: "true"}
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if err := rejectGlobalFlags(c); err != nil {
			return err
		}
		return run(c, args)
	}
	return cmd
}

// rejectGlobalFlags is a usage error if c was given a global flag it does
// not take.
func rejectGlobalFlags(c *cobra.Command) error {
	var err error
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if f.Changed && err == nil {
			err = usagef("--%s goes with the commands that call WeChat, not with %s", f.Name, c.Name())
		}
	})
	return err
}

// flagError makes cobra's flag errors usage errors, and suggests the
// flags closest to an unknown one: --txt for --text, or --to for -to (a
// long flag takes two dashes).
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	var s []string
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		s = suggestFlags(c.Flags(), name)
	} else if _, name, ok := strings.Cut(msg, "' in -"); ok && strings.HasPrefix(msg, "unknown shorthand flag: ") {
		s = suggestFlags(c.Flags(), strings.SplitN(name, "=", 2)[0])
	}
	if len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t--" + strings.Join(s, "\n\t--")
	}
	return &usageError{msg}
}

// suggestFlags are the names of the flags in fs closest to name, at most 2
// edits away.
func suggestFlags(fs *pflag.FlagSet, name string) []string {
	var names []string
	best := 3
	fs.VisitAll(func(f *pflag.Flag) {
		d := levenshtein(name, f.Name)
		switch {
		case f.Hidden || d > best:
		case d < best:
			best, names = d, []string{f.Name}
		default:
			names = append(names, f.Name)
		}
	})
	if best > 2 {
		return nil
	}
	return names
}

// levenshtein is the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// mainUsage is kefu's help: the commands, the global flags and the exit
// codes.
func mainUsage(root *cobra.Command, cmds []*cobra.Command) string {
	var b strings.Builder
	b.WriteString(`kefu sends WeChat customer-service messages (客服消息).

Usage:
  kefu COMMAND [flags]

Commands:
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-9s %s\n", c.Name(), c.Short)
	}
	b.WriteString(`  help      show help for a command: kefu help send
  completion bash|zsh|fish   print a shell completion script:
            source <(kefu completion bash)

Examples:
  kefu send --to OPENID --text "您好"
  kefu broadcast --to users.txt --text "您好" --journal run.journal   one message to many, resumable
  MEDIA=$(kefu upload --kind image photo.png)      the media id, for an image message
  kefu accounts --online
  kefu records --from "2025-06-01 09:00" > records.jsonl   one JSON object per record
  kefu fake --user o1 --account kf01@shop:Alice    a fake WeChat API on 127.0.0.1:8080
  KEFU_TOKEN=... kefu listen --forward http://localhost:3000/hook   WeChat's callbacks as JSON lines

Global flags, before or after the command (kefu --base-url URL send ...):
`)
	global := pflag.NewFlagSet("kefu", pflag.ContinueOnError)
	global.AddFlagSet(root.PersistentFlags())
	global.BoolP("version", "v", false, "print kefu's version")
	b.WriteString(global.FlagUsages())
	b.WriteString(`
Credentials come from KEFU_APPID and KEFU_SECRET, or --appid and --secret;
KEFU_BASE_URL stands for --base-url. --json prints a command's result as
JSON on stdout, for scripts; errors stay on stderr.

Exit codes, the same for every command:
  0    done
  1    WeChat refused (its errcode is on stderr)
  2    usage error
  3    delivery unknown: the message may have been delivered
  4    nothing sent (validation, no access token, a network failure before writing)
  130  interrupted (Ctrl-C)
`)
	return b.String()
}
