package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// uploadHelp is the help of "kefu upload", after its usage line.
const uploadHelp = `  kefu upload --kind KIND FILE                    KIND: image, voice, video or thumb
  MEDIA=$(kefu upload --kind image photo.png)     the media id, alone on stdout
  kefu upload --kind image --name photo.png - < photo.png    "-" reads stdin; --name is required then
  kefu upload --kind image --json photo.png
      prints {"media_id":...,"type":"image","created_at":RFC3339,"expires_at":RFC3339}

It uploads FILE as a temporary media file (POST /cgi-bin/media/upload) and
prints its media id alone on stdout; stderr says until when WeChat keeps it
(3 days). Use the id as an image, voice or video message's media_id, or as a
thumb_media_id (music, video, miniprogrampage):
  kefu send --to OPENID --file - <<<'{"msgtype":"image","image":{"media_id":"'"$MEDIA"'"}}'

Kinds, with the file types WeChat takes (by the filename's extension) and
the largest size:
  image  .png .jpeg .jpg .gif   2 MB
  voice  .amr .mp3              2 MB, 60 s
  video  .mp4                   10 MB
  thumb  .jpg .jpeg             64 KB
A file of another type, empty or too large is refused before anything is
sent (exit 1).
`

// uploadCommand is "kefu upload": a temporary media file, for messages to
// use by its media id.
func uploadCommand(e *env, api *apiFlags) *cobra.Command {
	return newCommand(e, "upload", "upload a media file (kept 3 days) and print its media id", uploadHelp, maxArgs(1), &uploadRun{api: api})
}

// define defines kefu upload's flags on fs.
func (u *uploadRun) define(fs *pflag.FlagSet) {
	fs.StringVar(&u.kind, "kind", "", "the media `KIND`: image, voice, video or thumb (required)")
	fs.StringVar(&u.name, "name", "", "the filename WeChat sees, whose extension gives the file type (default: FILE's name; required with -)")
}

// uploadRun is a run of kefu upload: the flags it was given.
type uploadRun struct {
	api        *apiFlags
	kind, name string
}

// uploaded is what upload --json prints.
type uploaded struct {
	MediaID   string    `json:"media_id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// run uploads args[0] (stdin for "-") and prints its media id.
func (u *uploadRun) run(ctx context.Context, e *env, args []string) error {
	mk := kefu.MediaKind(u.kind)
	switch mk {
	case kefu.MediaImage, kefu.MediaVoice, kefu.MediaVideo, kefu.MediaThumb:
	case "":
		return usagef("--kind is required: image, voice, video or thumb")
	default:
		return usagef("--kind %q: want image, voice, video or thumb", u.kind)
	}
	if len(args) == 0 {
		return usagef("no file to upload: give FILE, or - and --name to read stdin")
	}
	file := args[0]
	if file == "-" && u.name == "" {
		return usagef("--name is required with -: the filename WeChat sees, e.g. --name photo.png")
	}
	if err := u.api.resolve(e); err != nil {
		return err
	}
	r, shown, name := e.stdin, "stdin", u.name
	if file != "-" {
		f, err := openFile(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r, shown = f, file
		if name == "" {
			name = file // UploadMedia keeps its last element
		}
	}
	if filepath.Base(name) != filepath.Base(shown) {
		shown += " (as " + filepath.Base(name) + ")"
	}
	return u.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		m, err := client.UploadMedia(ctx, mk, name, r)
		if err != nil {
			return uploadError(shown, err)
		}
		created := m.CreatedAt
		if created.Unix() <= 0 {
			created = time.Now()
		}
		created = created.Truncate(time.Second)
		expires := created.Add(72 * time.Hour)
		if u.api.out.json {
			return writeJSON(e.stdout, uploaded{m.MediaID, cmp.Or(m.Type, u.kind), created, expires})
		}
		fmt.Fprintln(e.stdout, m.MediaID)
		fmt.Fprintf(e.stderr, "uploaded %s as %s; WeChat keeps it until %s\n", shown, u.kind, expires.Format(time.RFC3339))
		return nil
	})
}

// openFile opens the file to upload, which must not be a directory.
func openFile(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a file", name)
	}
	return f, nil
}

// uploadError words kefu's local refusals of an upload (validation errors,
// which speak of an "invalid message") as refusals of the file.
func uploadError(shown string, err error) error {
	if rules := validationRules(err, "media"); rules != "" {
		return fmt.Errorf("%s: %s; nothing was uploaded", shown, rules)
	}
	return err
}

// validationRules lists the rules of the *kefu.ValidationErrors in err's
// tree, "field: rule; ...", without the field named quiet; "" if there are
// none.
func validationRules(err error, quiet string) string {
	var found []*kefu.ValidationError
	collectValidation(err, &found)
	rules := make([]string, len(found))
	for i, ve := range found {
		rules[i] = ve.Rule
		if ve.Field != quiet {
			rules[i] = ve.Field + ": " + ve.Rule
		}
	}
	return strings.Join(rules, "; ")
}

// collectValidation appends the *kefu.ValidationErrors in err's tree to out.
func collectValidation(err error, out *[]*kefu.ValidationError) {
	var ve *kefu.ValidationError
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			collectValidation(e, out)
		}
	default:
		if errors.As(err, &ve) {
			*out = append(*out, ve)
		}
	}
}
