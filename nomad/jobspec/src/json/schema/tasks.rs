//! Task parts: templates, artifacts, Vault, identities; and the job's UI, periodic and parameterized blocks.

use super::Kind::{Any, Bool, Dur, Int, Many, One, Str, StrMap};
use super::*;

schema!(
    TEMPLATE,
    None,
    [
        ("source", "SourcePath", Str),
        ("destination", "DestPath", Str),
        ("data", "EmbeddedTmpl", Str),
        ("change_mode", "ChangeMode", Str),
        ("change_script", "ChangeScript", One(&GENERIC)),
        ("change_signal", "ChangeSignal", Str),
        ("once", "Once", Bool),
        ("splay", "Splay", Dur),
        ("perms", "Perms", Str),
        ("uid", "Uid", Int),
        ("gid", "Gid", Int),
        ("left_delimiter", "LeftDelim", Str),
        ("right_delimiter", "RightDelim", Str),
        ("env", "Envvars", Bool),
        ("vault_grace", "VaultGrace", Dur),
        ("wait", "Wait", One(&WAIT)),
        ("error_on_missing_key", "ErrMissingKey", Bool),
    ]
);
schema!(WAIT, None, [("min", "Min", Dur), ("max", "Max", Dur)]);
schema!(
    ARTIFACT,
    None,
    [
        ("source", "GetterSource", Str),
        ("options", "GetterOptions", StrMap),
        ("headers", "GetterHeaders", StrMap),
        ("mode", "GetterMode", Str),
        ("insecure", "GetterInsecure", Bool),
        ("destination", "RelativeDest", Str),
        ("chown", "Chown", Bool),
    ]
);
schema!(
    VAULT,
    None,
    [
        ("policies", "Policies", Any),
        ("role", "Role", Str),
        ("namespace", "Namespace", Str),
        ("cluster", "Cluster", Str),
        ("env", "Env", Bool),
        ("disable_file", "DisableFile", Bool),
        ("change_mode", "ChangeMode", Str),
        ("change_signal", "ChangeSignal", Str),
        ("allow_token_expiration", "AllowTokenExpiration", Bool),
    ]
);
schema!(
    VOLUME,
    Some("Name"),
    [
        ("type", "Type", Str),
        ("source", "Source", Str),
        ("read_only", "ReadOnly", Bool),
        ("sticky", "Sticky", Bool),
        ("access_mode", "AccessMode", Str),
        ("attachment_mode", "AttachmentMode", Str),
        ("mount_options", "MountOptions", One(&GENERIC)),
        ("per_alloc", "PerAlloc", Bool),
    ]
);
schema!(
    VOLUME_MOUNT,
    None,
    [
        ("volume", "Volume", Str),
        ("destination", "Destination", Str),
        ("read_only", "ReadOnly", Bool),
        ("propagation_mode", "PropagationMode", Str),
        ("selinux_label", "SELinuxLabel", Str),
    ]
);
schema!(
    IDENTITY,
    None,
    [
        ("name", "Name", Str),
        ("aud", "Audience", Any),
        ("change_mode", "ChangeMode", Str),
        ("change_signal", "ChangeSignal", Str),
        ("env", "Env", Bool),
        ("file", "File", Bool),
        ("filepath", "Filepath", Str),
        ("service_name", "ServiceName", Str),
        ("ttl", "TTL", Dur),
        ("extra_claims", "ExtraClaims", Any),
    ]
);
schema!(
    CONSUL,
    None,
    [
        ("namespace", "Namespace", Str),
        ("cluster", "Cluster", Str),
        ("partition", "Partition", Str)
    ]
);
schema!(
    UI,
    None,
    [
        ("description", "Description", Str),
        ("link", "Links", Many(&UI_LINK))
    ]
);
schema!(
    UI_LINK,
    None,
    [("label", "Label", Str), ("url", "URL", Str)]
);
schema!(
    PERIODIC,
    None,
    [
        ("cron", "Spec", Str),
        ("crons", "Specs", Any),
        ("prohibit_overlap", "ProhibitOverlap", Bool),
        ("time_zone", "TimeZone", Str),
        ("enabled", "Enabled", Bool),
    ]
);
schema!(
    PARAMETERIZED,
    None,
    [
        ("payload", "Payload", Str),
        ("meta_required", "MetaRequired", Any),
        ("meta_optional", "MetaOptional", Any),
    ]
);
