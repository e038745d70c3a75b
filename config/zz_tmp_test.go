package config
import ("testing"; "path/filepath"; "fmt")
func TestZZ(t *testing.T){
 for _, f := range []string{"notify_routes","notify_receivers","notify_template","alerts_bad","canary_unknown_receiver","auth_bad","auth_admin_token_file","notify_secret_files"} {
  _, err := load(filepath.Join("testdata", f+".bad.yaml"), testEnv())
  fmt.Printf("== %s\n%v\n", f, err)
 }
}
