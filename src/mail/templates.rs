//! Mail templates as plain Rust: `en`, `ko`, `ja`, anything else falls back to `en`.
//! Subjects start with `[<service name>] ` and never contain the secret; the secret (code, link,
//! token or temporary password) is only in the body.

use crate::api::Secret;

/// Which mail to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// E-mail address verification code.
    VerifyCode,
    /// Code confirming an MFA change (enable / disable).
    MfaCode,
    /// Second-factor code at sign-in.
    LoginCode,
    /// Password reset link or token.
    ResetLink,
    /// Temporary password after an administrative or self-service reset.
    TempPassword,
}

/// A template language. Anything unknown falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English (the fallback).
    En,
    /// Korean.
    Ko,
    /// Japanese.
    Ja,
}

impl Lang {
    /// Picks a language from a user's `language` field: the primary subtag, case-insensitive
    /// (`ko`, `ko-KR`, `ja_JP`, `JA`); anything else is English.
    pub fn from_tag(tag: &str) -> Self {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "ko" => Self::Ko,
            "ja" => Self::Ja,
            _ => Self::En,
        }
    }
}

/// What a template needs. `Debug` shows `user_id` and the lifetime, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailParams {
    /// The addressee's user id, shown in the greeting.
    pub user_id: String,
    /// The code (`VerifyCode`, `MfaCode`, `LoginCode`), the link or token (`ResetLink`: rendered
    /// as a link when it starts with `http://` or `https://`, else as a token) or the temporary
    /// password (`TempPassword`).
    pub secret: Secret<String>,
    /// How long the secret stays valid, in minutes (shown in the body; whole hours are shown in
    /// hours).
    pub valid_minutes: u32,
}

fn duration(lang: Lang, minutes: u32) -> String {
    let hours = (minutes >= 60 && minutes.is_multiple_of(60)).then_some(minutes / 60);
    match (lang, hours) {
        (Lang::En, Some(1)) => "1 hour".to_string(),
        (Lang::En, Some(h)) => format!("{h} hours"),
        (Lang::En, None) if minutes == 1 => "1 minute".to_string(),
        (Lang::En, None) => format!("{minutes} minutes"),
        (Lang::Ko, Some(h)) => format!("{h}시간"),
        (Lang::Ko, None) => format!("{minutes}분"),
        (Lang::Ja, Some(h)) => format!("{h}時間"),
        (Lang::Ja, None) => format!("{minutes}分"),
    }
}

fn is_link(value: &str) -> bool {
    value.starts_with("https://") || value.starts_with("http://")
}

/// Renders `kind` in `lang` (see [`Lang::from_tag`]) for `service_name`.
/// Returns `(subject, text body)`; the body holds the secret, so it comes wrapped in [`Secret`].
pub fn render(
    kind: MailKind,
    lang: &str,
    service_name: &str,
    params: &MailParams,
) -> (String, Secret<String>) {
    let lang = Lang::from_tag(lang);
    let user = params.user_id.as_str();
    let secret = params.secret.expose().as_str();
    let dur = duration(lang, params.valid_minutes);
    let svc = service_name;
    let (title, body) = match (kind, lang) {
        (MailKind::VerifyCode, Lang::En) => (
            "Verify your e-mail address",
            format!(
                "Hello {user},\n\nYour e-mail verification code is:\n\n    {secret}\n\n\
                 It expires in {dur}. If you did not ask for it, ignore this message.\n"
            ),
        ),
        (MailKind::VerifyCode, Lang::Ko) => (
            "이메일 주소 인증",
            format!(
                "{user}님, 안녕하세요.\n\n이메일 인증 코드입니다:\n\n    {secret}\n\n\
                 이 코드는 {dur} 후에 만료됩니다. 요청하지 않으셨다면 이 메일을 무시하세요.\n"
            ),
        ),
        (MailKind::VerifyCode, Lang::Ja) => (
            "メールアドレスの確認",
            format!(
                "{user} 様\n\nメールアドレスの確認コードです:\n\n    {secret}\n\n\
                 有効期限は{dur}です。お心当たりのない場合は、このメールを破棄してください。\n"
            ),
        ),
        (MailKind::MfaCode, Lang::En) => (
            "Confirm your MFA change",
            format!(
                "Hello {user},\n\nYour code to confirm the multi-factor authentication change is:\n\n    {secret}\n\n\
                 It expires in {dur}. If you did not ask for it, change your password.\n"
            ),
        ),
        (MailKind::MfaCode, Lang::Ko) => (
            "MFA 설정 변경 확인",
            format!(
                "{user}님, 안녕하세요.\n\n다단계 인증(MFA) 설정 변경을 확인하는 코드입니다:\n\n    {secret}\n\n\
                 이 코드는 {dur} 후에 만료됩니다. 요청하지 않으셨다면 비밀번호를 변경하세요.\n"
            ),
        ),
        (MailKind::MfaCode, Lang::Ja) => (
            "MFA 設定変更の確認",
            format!(
                "{user} 様\n\n多要素認証(MFA)設定の変更を確認するコードです:\n\n    {secret}\n\n\
                 有効期限は{dur}です。お心当たりのない場合は、パスワードを変更してください。\n"
            ),
        ),
        (MailKind::LoginCode, Lang::En) => (
            "Your sign-in code",
            format!(
                "Hello {user},\n\nYour sign-in verification code is:\n\n    {secret}\n\n\
                 It expires in {dur}. If you did not try to sign in, change your password.\n"
            ),
        ),
        (MailKind::LoginCode, Lang::Ko) => (
            "로그인 인증 코드",
            format!(
                "{user}님, 안녕하세요.\n\n로그인 인증 코드입니다:\n\n    {secret}\n\n\
                 이 코드는 {dur} 후에 만료됩니다. 로그인을 시도하지 않으셨다면 비밀번호를 변경하세요.\n"
            ),
        ),
        (MailKind::LoginCode, Lang::Ja) => (
            "ログイン確認コード",
            format!(
                "{user} 様\n\nログイン確認コードです:\n\n    {secret}\n\n\
                 有効期限は{dur}です。ログインを試みていない場合は、パスワードを変更してください。\n"
            ),
        ),
        (MailKind::ResetLink, Lang::En) => (
            "Reset your password",
            if is_link(secret) {
                format!(
                    "Hello {user},\n\nTo set a new password, open this link:\n\n    {secret}\n\n\
                     It is valid for {dur}. If you did not ask for a reset, ignore this message.\n"
                )
            } else {
                format!(
                    "Hello {user},\n\nTo set a new password, use this token:\n\n    {secret}\n\n\
                     It is valid for {dur}. If you did not ask for a reset, ignore this message.\n"
                )
            },
        ),
        (MailKind::ResetLink, Lang::Ko) => (
            "비밀번호 재설정",
            if is_link(secret) {
                format!(
                    "{user}님, 안녕하세요.\n\n새 비밀번호를 설정하려면 다음 링크를 여세요:\n\n    {secret}\n\n\
                     {dur} 동안 유효합니다. 요청하지 않으셨다면 이 메일을 무시하세요.\n"
                )
            } else {
                format!(
                    "{user}님, 안녕하세요.\n\n새 비밀번호를 설정하려면 다음 토큰을 사용하세요:\n\n    {secret}\n\n\
                     {dur} 동안 유효합니다. 요청하지 않으셨다면 이 메일을 무시하세요.\n"
                )
            },
        ),
        (MailKind::ResetLink, Lang::Ja) => (
            "パスワードの再設定",
            if is_link(secret) {
                format!(
                    "{user} 様\n\n新しいパスワードを設定するには、次のリンクを開いてください:\n\n    {secret}\n\n\
                     有効期限は{dur}です。お心当たりのない場合は、このメールを破棄してください。\n"
                )
            } else {
                format!(
                    "{user} 様\n\n新しいパスワードを設定するには、次のトークンを使用してください:\n\n    {secret}\n\n\
                     有効期限は{dur}です。お心当たりのない場合は、このメールを破棄してください。\n"
                )
            },
        ),
        (MailKind::TempPassword, Lang::En) => (
            "Your temporary password",
            format!(
                "Hello {user},\n\nYour temporary password is:\n\n    {secret}\n\n\
                 Sign in with it and set a new password. It expires in {dur}.\n"
            ),
        ),
        (MailKind::TempPassword, Lang::Ko) => (
            "임시 비밀번호",
            format!(
                "{user}님, 안녕하세요.\n\n임시 비밀번호입니다:\n\n    {secret}\n\n\
                 이 비밀번호로 로그인한 뒤 새 비밀번호를 설정하세요. {dur} 후에 만료됩니다.\n"
            ),
        ),
        (MailKind::TempPassword, Lang::Ja) => (
            "仮パスワード",
            format!(
                "{user} 様\n\n仮パスワードです:\n\n    {secret}\n\n\
                 このパスワードでログインし、新しいパスワードを設定してください。有効期限は{dur}です。\n"
            ),
        ),
    };
    let subject = format!("[{svc}] {title}");
    let body = format!("{body}\n-- \n{svc}\n");
    (subject, Secret::new(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [MailKind; 5] = [
        MailKind::VerifyCode,
        MailKind::MfaCode,
        MailKind::LoginCode,
        MailKind::ResetLink,
        MailKind::TempPassword,
    ];

    fn params(secret: &str, minutes: u32) -> MailParams {
        MailParams {
            user_id: "alice@example.com".into(),
            secret: Secret::new(secret),
            valid_minutes: minutes,
        }
    }

    #[test]
    fn every_kind_and_language() {
        for kind in KINDS {
            for lang in ["en", "ko", "ja"] {
                let (subject, body) = render(kind, lang, "identityd", &params("918273", 5));
                assert!(subject.starts_with("[identityd] "), "{subject}");
                assert!(!subject.contains("918273"), "secret in subject: {subject}");
                assert!(body.expose().contains("918273"), "{kind:?}/{lang}");
                assert!(body.expose().contains("alice@example.com"));
                assert!(!subject.contains('\n'));
            }
        }
    }

    #[test]
    fn korean_and_japanese_text() {
        let (s, b) = render(
            MailKind::VerifyCode,
            "ko",
            "identityd",
            &params("111222", 60),
        );
        assert_eq!(s, "[identityd] 이메일 주소 인증");
        assert!(b.expose().contains("1시간 후에 만료됩니다"));
        let (s, b) = render(
            MailKind::LoginCode,
            "ja-JP",
            "identityd",
            &params("111222", 5),
        );
        assert_eq!(s, "[identityd] ログイン確認コード");
        assert!(b.expose().contains("有効期限は5分です"));
        let (s, _) = render(
            MailKind::TempPassword,
            "KO_kr",
            "Acme",
            &params("Xy12abcdEFgh", 1440),
        );
        assert_eq!(s, "[Acme] 임시 비밀번호");
    }

    #[test]
    fn unknown_language_falls_back_to_english() {
        for lang in ["", "de", "fr-FR", "zz", "english", "kor"] {
            let (s, b) = render(MailKind::MfaCode, lang, "identityd", &params("333444", 5));
            assert_eq!(s, "[identityd] Confirm your MFA change", "{lang}");
            assert!(b.expose().contains("expires in 5 minutes"));
        }
        assert_eq!(Lang::from_tag("JA"), Lang::Ja);
        assert_eq!(Lang::from_tag(" ko "), Lang::Ko);
    }

    #[test]
    fn reset_link_or_token() {
        let link = "https://console.example.com/reset?token=abc";
        let (_, b) = render(MailKind::ResetLink, "en", "identityd", &params(link, 1440));
        assert!(b.expose().contains("open this link"));
        assert!(b.expose().contains(link));
        assert!(b.expose().contains("valid for 24 hours"));
        let (_, b) = render(
            MailKind::ResetLink,
            "en",
            "identityd",
            &params("eyJhbGciOi.x.y", 60),
        );
        assert!(b.expose().contains("use this token"));
        assert!(b.expose().contains("valid for 1 hour"));
        let (_, b) = render(MailKind::ResetLink, "ja", "identityd", &params(link, 1440));
        assert!(b.expose().contains("次のリンク"));
        assert!(b.expose().contains("24時間"));
    }

    #[test]
    fn params_debug_is_redacted() {
        let p = params("918273", 5);
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("918273"));
        assert!(dbg.contains("alice@example.com"));
        let (_, body) = render(MailKind::LoginCode, "en", "identityd", &p);
        assert_eq!(format!("{body:?}"), "Secret(***)");
    }
}
