// Command oracle answers, with Go's regexp package, how Alertmanager treats each regex
// matcher value in a case list: regexp.Compile("^(?:" + v + ")$") as pkg/labels.NewMatcher
// does, then MatchString on each input. It reads {"cases": [{"pattern", "inputs"}]} on
// stdin and writes the same cases with "go_error" and "go_matches" added. To add a case, add
// it to the JSON and run it again:
//
//	(cd tests/rules/testdata/go/oracle && go run main.go) < tests/rules/testdata/re2-vs-go.json > new.json
package main

import (
	"encoding/json"
	"os"
	"regexp"
	"runtime"
)

type row struct {
	Pattern   string   `json:"pattern"`
	Inputs    []string `json:"inputs"`
	Note      string   `json:"note,omitempty"`
	GoError   *string  `json:"go_error"`
	GoMatches []bool   `json:"go_matches"`
}

func main() {
	var in struct {
		Cases []row `json:"cases"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	for i := range in.Cases {
		c := &in.Cases[i]
		re, err := regexp.Compile("^(?:" + c.Pattern + ")$")
		if err != nil {
			s := err.Error()
			c.GoError = &s
			continue
		}
		c.GoMatches = []bool{}
		for _, s := range c.Inputs {
			c.GoMatches = append(c.GoMatches, re.MatchString(s))
		}
	}
	out := map[string]any{"oracle": "Go " + runtime.Version() + " regexp", "cases": in.Cases}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
