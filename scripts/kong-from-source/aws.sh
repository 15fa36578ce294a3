# Step 3's lua-resty-aws rock: the API modules and the rockspec its release would carry.

# lua-resty-aws: its raw-api modules and rockspec, made from the AWS JS SDK (v2.751.0) the way
# its update_api_files.sh does (which would git-clone the SDK).
aws_raw_api() {
  local tree=$1 sdk="$WORK/rocks/src/aws-sdk-js" mirror commit f id target="$1/src/resty/aws/raw-api"
  read -r mirror commit <<<"$(pin aws_sdk_js)"
  rm -rf "$sdk" && mkdir -p "$sdk"
  # (git archive names the SDK's absent dist/*.js blobs on stderr even when it leaves them out)
  git --git-dir="$(git_dir "$mirror")" archive "$commit" -- apis lib/region_config_data.json \
    2>>"$WORK/logs/rocks.log" | tar -x -C "$sdk" || die "aws-sdk-js: no apis at $commit"
  rm -rf "$target" && mkdir -p "$target"
  AWS_APIS=()
  while read -r f; do AWS_APIS+=("${f%.normal.json}"); done < <(cd "$sdk/apis" && ls -v -- *.normal.json)
  {
    echo "return {"
    for f in "${AWS_APIS[@]}"; do
      id=$(jq -r '.metadata.serviceId' "$sdk/apis/$f.normal.json" | tr -d ' ')
      echo "  \"$id:${f//./-}\","
    done
    echo "}"
  } >"$target/table_of_contents.lua"
  {
    echo 'local decode = require("cjson").new().decode'
    echo "return assert(decode([===["
    cat "$sdk/lib/region_config_data.json"
    echo ""
    echo "]===]))"
  } >"$target/region_config_data.lua"
  for f in "${AWS_APIS[@]}"; do
    {
      echo 'local decode = require("cjson").new().decode'
      echo 'return assert(decode([===['
      jq 'walk( if (type == "object") and has("documentation") and (.documentation|contains("wJalrXUtnFEMI")) then del(.documentation) else . end )' \
        "$sdk/apis/$f.normal.json"
      echo ""
      echo "]===]))"
    } >"$target/${f//./-}.lua" || die "aws-sdk-js: $f"
  done
  rm -rf "$sdk"
}

# The rockspec update_api_files.sh writes, with the version as the Makefile's pack target sets it.
aws_rockspec() {
  local tree=$1 f
  sed -n '1,/--START-MARKER--/p' "$tree/lua-resty-aws-dev-1.rockspec.template" |
    sed 's/^local package_version = "dev"/local package_version = "1.5.4"/'
  for f in "${AWS_APIS[@]}"; do
    echo "    [\"resty.aws.raw-api.${f//./-}\"] = \"src/resty/aws/raw-api/${f//./-}.lua\","
  done
  sed -n '/--END-MARKER--/,$p' "$tree/lua-resty-aws-dev-1.rockspec.template"
}
