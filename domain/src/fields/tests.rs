use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;

type Given = TestFramework<FieldSchema>;

const FIELD: Uuid = Uuid::from_u128(1);
const OTHER: Uuid = Uuid::from_u128(2);

fn input(key: &str, kind: FieldKind) -> FieldInput {
    FieldInput {
        record: RecordKind::Company,
        key: key.into(),
        label: key.to_uppercase(),
        kind,
        max_length: None,
        scale: None,
        references: (kind == FieldKind::Reference).then_some(RecordKind::Contact),
        options: Vec::new(),
        required: false,
        personal_data: false,
        unique: false,
    }
}

fn define(id: Uuid, input: FieldInput) -> Guarded<FieldSchemaCommand> {
    FieldSchemaCommand::Define { id, input }.into()
}

fn defined(key: &str, kind: FieldKind) -> FieldSchemaEvent {
    let mut schema = FieldSchema::default();
    match schema.define(FIELD, input(key, kind)) {
        Ok(def) => {
            schema.apply(FieldSchemaEvent::FieldDefined(def.clone()));
            FieldSchemaEvent::FieldDefined(def)
        }
        Err(e) => panic!("{e}"),
    }
}

fn stage_field() -> FieldSchemaEvent {
    let mut i = input("tier", FieldKind::SingleSelect);
    i.options = vec!["Gold".into(), "Silver".into()];
    match FieldSchema::default().define(FIELD, i) {
        Ok(def) => FieldSchemaEvent::FieldDefined(def),
        Err(e) => panic!("{e}"),
    }
}

fn invalid_on(field: &'static str, result: Result<Vec<FieldSchemaEvent>, DomainError>) {
    match result {
        Err(DomainError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected a 422 on {field}, got {other:?}"),
    }
}

fn run(
    given: Vec<FieldSchemaEvent>,
    command: Guarded<FieldSchemaCommand>,
) -> Result<Vec<FieldSchemaEvent>, DomainError> {
    Given::with(()).given(given).when(command).inspect_result()
}

#[test]
fn a_text_field_is_defined_with_its_default_length() {
    Given::with(())
        .given_no_previous_events()
        .when(define(FIELD, input("ticker", FieldKind::Text)))
        .then_expect_events(vec![FieldSchemaEvent::FieldDefined(FieldDefinition {
            id: FIELD,
            record: RecordKind::Company,
            key: "ticker".into(),
            label: "TICKER".into(),
            kind: FieldKind::Text,
            max_length: Some(TEXT_DEFAULT),
            scale: None,
            references: None,
            options: Vec::new(),
            required: false,
            personal_data: false,
            unique: false,
            archived: false,
        })]);
}

#[test]
fn a_key_is_never_reused_in_a_record_type_even_archived() {
    let archived = vec![
        defined("ticker", FieldKind::Text),
        FieldSchemaEvent::FieldArchived { id: FIELD },
    ];
    match run(archived, define(OTHER, input("ticker", FieldKind::Integer))) {
        Err(DomainError::Conflict(why)) => assert!(why.contains("ticker"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Another record type may use it.
    let mut contact = input("ticker", FieldKind::Text);
    contact.record = RecordKind::Contact;
    assert!(run(
        vec![defined("ticker", FieldKind::Text)],
        define(OTHER, contact)
    )
    .is_ok());
}

#[test]
fn keys_have_one_shape() {
    for bad in [
        "",
        "Ticker",
        "1st",
        "_x",
        "has-dash",
        "has space",
        &"a".repeat(64),
        "é",
    ] {
        invalid_on(
            "key",
            run(vec![], define(FIELD, input(bad, FieldKind::Text))),
        );
    }
    assert!(run(
        vec![],
        define(FIELD, input(&"a".repeat(63), FieldKind::Text))
    )
    .is_ok());
}

#[test]
fn type_settings_belong_to_their_type() {
    let mut i = input("n", FieldKind::Integer);
    i.max_length = Some(10);
    invalid_on("max_length", run(vec![], define(FIELD, i)));
    let mut i = input("n", FieldKind::Text);
    i.scale = Some(2);
    invalid_on("scale", run(vec![], define(FIELD, i)));
    let mut i = input("n", FieldKind::Text);
    i.options = vec!["a".into()];
    invalid_on("options", run(vec![], define(FIELD, i)));
    let mut i = input("n", FieldKind::Reference);
    i.references = None;
    invalid_on("references", run(vec![], define(FIELD, i)));
    let mut i = input("n", FieldKind::Text);
    i.references = Some(RecordKind::Deal);
    invalid_on("references", run(vec![], define(FIELD, i)));
    let mut i = input("n", FieldKind::Decimal);
    i.scale = Some(13);
    invalid_on("scale", run(vec![], define(FIELD, i)));
    let mut i = input("n", FieldKind::Text);
    i.max_length = Some(0);
    invalid_on("max_length", run(vec![], define(FIELD, i)));
}

#[test]
fn an_option_is_archived_never_removed() {
    let FieldSchemaEvent::FieldDefined(def) = stage_field() else {
        unreachable!()
    };
    let gold = def.options[0].id;
    // Leaving Silver out is refused, even though no value may name it.
    let only_gold = FieldSchemaCommand::ChangeOptions {
        id: FIELD,
        options: vec![OptionInput {
            id: Some(gold),
            label: "Gold".into(),
            archived: false,
        }],
    };
    invalid_on("options", run(vec![stage_field()], only_gold.into()));
    // Archiving it, and adding Bronze, is one event with the whole list.
    let silver = def.options[1].id;
    let change = FieldSchemaCommand::ChangeOptions {
        id: FIELD,
        options: vec![
            OptionInput {
                id: Some(gold),
                label: "Gold".into(),
                archived: false,
            },
            OptionInput {
                id: Some(silver),
                label: "Silver".into(),
                archived: true,
            },
            OptionInput {
                id: None,
                label: "Bronze".into(),
                archived: false,
            },
        ],
    };
    match run(vec![stage_field()], change.into()) {
        Ok(events) => match events.as_slice() {
            [FieldSchemaEvent::FieldOptionsChanged { options, .. }] => {
                assert_eq!(options.len(), 3);
                assert!(options[1].archived);
                assert_eq!(options[2].id, Uuid::new_v5(&FIELD, b"bronze"));
            }
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn options_of_a_non_select_field_are_refused() {
    let change = FieldSchemaCommand::ChangeOptions {
        id: FIELD,
        options: vec![],
    };
    invalid_on(
        "options",
        run(vec![defined("ticker", FieldKind::Text)], change.into()),
    );
}

#[test]
fn rename_archive_and_restore() {
    Given::with(())
        .given(vec![defined("ticker", FieldKind::Text)])
        .when(
            FieldSchemaCommand::Rename {
                id: FIELD,
                label: " Stock symbol ".into(),
            }
            .into(),
        )
        .then_expect_events(vec![FieldSchemaEvent::FieldRenamed {
            id: FIELD,
            label: "Stock symbol".into(),
        }]);
    let archived = vec![
        defined("ticker", FieldKind::Text),
        FieldSchemaEvent::FieldArchived { id: FIELD },
    ];
    Given::with(())
        .given(archived.clone())
        .when(FieldSchemaCommand::Archive { id: FIELD }.into())
        .then_expect_error(DomainError::Conflict(
            "the field is archived already".into(),
        ));
    Given::with(())
        .given(archived)
        .when(FieldSchemaCommand::Restore { id: FIELD }.into())
        .then_expect_events(vec![FieldSchemaEvent::FieldRestored { id: FIELD }]);
    Given::with(())
        .given_no_previous_events()
        .when(FieldSchemaCommand::Archive { id: FIELD }.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn labels_are_unique_among_live_fields() {
    let mut second = input("symbol", FieldKind::Text);
    second.label = "ticker".into();
    match run(
        vec![defined("ticker", FieldKind::Text)],
        define(OTHER, second.clone()),
    ) {
        Err(DomainError::Conflict(_)) => {}
        other => panic!("{other:?}"),
    }
    let archived = vec![
        defined("ticker", FieldKind::Text),
        FieldSchemaEvent::FieldArchived { id: FIELD },
    ];
    assert!(run(archived, define(OTHER, second)).is_ok());
}

fn schema(events: Vec<FieldSchemaEvent>) -> FieldSchema {
    let mut s = FieldSchema::default();
    for e in events {
        s.apply(e);
    }
    s
}

fn given(values: serde_json::Value) -> CustomInput {
    match values {
        serde_json::Value::Object(map) => CustomInput::from(map),
        other => panic!("{other}"),
    }
}

fn check_one(
    kind: FieldKind,
    value: serde_json::Value,
) -> Result<Option<serde_json::Value>, DomainError> {
    let s = schema(vec![defined("f", kind)]);
    let mut i = given(json!({ "f": value }));
    s.check(RecordKind::Company, &mut i, false)?;
    Ok(i.changes()?.remove(&FIELD).flatten())
}

#[test]
fn values_are_checked_and_kept_in_one_form_per_type() {
    use FieldKind::*;
    let ok = |kind, value, stored| assert_eq!(check_one(kind, value), Ok(stored), "{kind:?}");
    ok(Text, json!("  AAPL "), Some(json!("AAPL")));
    ok(Text, json!("   "), None);
    ok(LongText, json!("line\nnext"), Some(json!("line\nnext")));
    ok(Integer, json!(-42), Some(json!(-42)));
    ok(Decimal, json!("12.5"), Some(json!("12.50")));
    ok(Decimal, json!(3), Some(json!("3.00")));
    ok(
        Money,
        json!({"amount_minor": 1250, "currency": "EUR"}),
        Some(json!({"amount_minor": 1250, "currency": "EUR"})),
    );
    ok(Date, json!("1976-04-01"), Some(json!("1976-04-01")));
    ok(
        DateTime,
        json!("2026-12-05T10:00:00+02:00"),
        Some(json!("2026-12-05T08:00:00Z")),
    );
    ok(Boolean, json!(false), Some(json!(false)));
    ok(
        Url,
        json!("https://acme.example/about"),
        Some(json!("https://acme.example/about")),
    );
    ok(
        Email,
        json!("Ir@Acme.example"),
        Some(json!("ir@acme.example")),
    );
    ok(
        Phone,
        json!("+1 (408) 996-1010"),
        Some(json!("+1 (408) 996-1010")),
    );
    ok(Text, json!(null), None);
}

#[test]
fn values_of_the_wrong_type_or_beyond_limits_are_refused() {
    use FieldKind::*;
    let bad = |kind, value: serde_json::Value| match check_one(kind, value.clone()) {
        Err(DomainError::Invalid {
            field: "custom",
            message,
        }) => assert!(message.starts_with("f: "), "{message}"),
        other => panic!("{kind:?} {value}: {other:?}"),
    };
    bad(Text, json!(12));
    bad(Text, json!("a\u{0}b"));
    bad(Text, json!("x".repeat(256)));
    bad(LongText, json!("a\u{7}b"));
    bad(Integer, json!(1.5));
    bad(Integer, json!("12"));
    bad(Integer, json!(18446744073709551615u64));
    bad(Decimal, json!("1.234"));
    bad(Decimal, json!("1e400"));
    bad(Money, json!({"amount_minor": 1, "currency": "XXQ"}));
    bad(Money, json!({"amount_minor": 1.5, "currency": "EUR"}));
    bad(Date, json!("1976-02-30"));
    bad(DateTime, json!("2026-12-05 10:00"));
    bad(DateTime, json!("-262143-01-01T00:00:00Z"));
    bad(Boolean, json!("true"));
    bad(Url, json!("javascript:alert(1)"));
    bad(Url, json!("https://"));
    bad(Url, json!("https://a b"));
    bad(Email, json!("not-an-email"));
    bad(Phone, json!("12"));
    bad(Phone, json!("call me"));
    bad(Reference, json!("not-a-uuid"));
    bad(SingleSelect, json!(Uuid::from_u128(9).to_string()));
}

#[test]
fn archived_unknown_and_required_fields() {
    let s = schema(vec![
        defined("f", FieldKind::Text),
        FieldSchemaEvent::FieldArchived { id: FIELD },
    ]);
    assert!(s
        .check(RecordKind::Company, &mut given(json!({"f": "x"})), false)
        .is_err());
    assert!(s
        .check(RecordKind::Company, &mut given(json!({"nope": "x"})), false)
        .is_err());
    assert!(s
        .check(RecordKind::Contact, &mut given(json!({"f": "x"})), false)
        .is_err());

    let mut required = input("f", FieldKind::Text);
    required.required = true;
    let def = match FieldSchema::default().define(FIELD, required) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let s = schema(vec![FieldSchemaEvent::FieldDefined(def)]);
    assert!(s
        .check(RecordKind::Company, &mut given(json!({})), true)
        .is_err());
    assert!(s
        .check(RecordKind::Company, &mut given(json!({"f": null})), false)
        .is_err());
    assert!(s
        .check(RecordKind::Company, &mut given(json!({"f": "x"})), true)
        .is_ok());
    // An update that leaves it alone passes.
    assert!(s
        .check(RecordKind::Company, &mut given(json!({})), false)
        .is_ok());
}

#[test]
fn selects_take_live_option_ids_and_references_are_returned_to_check() {
    let FieldSchemaEvent::FieldDefined(def) = stage_field() else {
        unreachable!()
    };
    let (gold, silver) = (def.options[0].id, def.options[1].id);
    let archived_silver = FieldSchemaEvent::FieldOptionsChanged {
        id: FIELD,
        options: vec![
            def.options[0].clone(),
            SelectOption {
                archived: true,
                ..def.options[1].clone()
            },
        ],
    };
    let s = schema(vec![stage_field(), archived_silver]);
    assert!(s
        .check(
            RecordKind::Company,
            &mut given(json!({"tier": gold.to_string()})),
            false
        )
        .is_ok());
    assert!(s
        .check(
            RecordKind::Company,
            &mut given(json!({"tier": silver.to_string()})),
            false
        )
        .is_err());

    let mut r = input("parent", FieldKind::Reference);
    r.references = Some(RecordKind::Company);
    let def = match FieldSchema::default().define(OTHER, r) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let s = schema(vec![FieldSchemaEvent::FieldDefined(def)]);
    let target = Uuid::from_u128(77);
    let refs = s.check(
        RecordKind::Company,
        &mut given(json!({"parent": target.to_string()})),
        false,
    );
    assert_eq!(
        refs,
        Ok(vec![("parent".to_owned(), RecordKind::Company, target)])
    );
}

#[test]
fn unchecked_values_never_reach_an_event() {
    assert!(given(json!({"f": 1})).changes().is_err());
    assert_eq!(given(json!({})).changes(), Ok(CustomChanges::new()));
}

#[test]
fn diff_names_changed_and_cleared_fields_only() {
    let old: CustomValues = [(FIELD, json!(1)), (OTHER, json!("x"))].into();
    let new: CustomValues = [(FIELD, json!(2))].into();
    let changes = diff(&old, &new);
    assert_eq!(changes, [(FIELD, Some(json!(2))), (OTHER, None)].into());
}

#[test]
fn cells_of_an_import_become_values_and_columns_suggest_types() {
    use super::values::{from_text, key_of, TypeGuess};
    let def = |kind| match FieldSchema::default().define(FIELD, input("f", kind)) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        from_text(&def(FieldKind::Integer), "94,000"),
        Ok(Some(json!(94000)))
    );
    assert!(from_text(&def(FieldKind::Integer), "94,000 (2024)").is_err());
    assert_eq!(
        from_text(&def(FieldKind::Boolean), "Yes"),
        Ok(Some(json!(true)))
    );
    assert_eq!(
        from_text(&def(FieldKind::Money), "12.50 EUR"),
        Ok(Some(json!({"amount_minor": 1250, "currency": "EUR"})))
    );
    assert_eq!(from_text(&def(FieldKind::Text), "  "), Ok(None));
    let FieldSchemaEvent::FieldDefined(tier) = stage_field() else {
        unreachable!()
    };
    assert_eq!(
        from_text(&tier, "gold"),
        Ok(Some(json!(tier.options[0].id.to_string())))
    );
    assert!(from_text(&tier, "Platinum").is_err());

    let guess = |cells: &[&str]| {
        let mut g = TypeGuess::default();
        cells.iter().for_each(|c| g.observe(c));
        g.kind()
    };
    assert_eq!(guess(&["1876", "1865", ""]), FieldKind::Integer);
    assert_eq!(guess(&["SE0000108649", "US0378331005"]), FieldKind::Text);
    assert_eq!(guess(&["1976-04-01"]), FieldKind::Date);
    assert_eq!(guess(&["https://a.example"]), FieldKind::Url);
    assert_eq!(guess(&[&"x".repeat(300)]), FieldKind::LongText);
    assert_eq!(key_of("Company Domain Name"), "company_domain_name");
    assert_eq!(key_of("2nd phone #"), "f_2nd_phone");
    assert_eq!(key_of("ISIN"), "isin");
}

#[test]
fn personal_data_is_for_contact_fields_and_its_values_are_kept_apart() {
    let mut company = input("secret", FieldKind::Text);
    company.personal_data = true;
    invalid_on("personal_data", run(vec![], define(FIELD, company)));

    let mut private = input("birthday", FieldKind::Date);
    private.record = RecordKind::Contact;
    private.personal_data = true;
    let mut public = input("nickname", FieldKind::Text);
    public.record = RecordKind::Contact;
    let mut s = FieldSchema::default();
    for (id, i) in [(FIELD, private), (OTHER, public)] {
        match s.define(id, i) {
            Ok(def) => s.apply(FieldSchemaEvent::FieldDefined(def)),
            Err(e) => panic!("{e}"),
        }
    }
    let mut values = given(json!({"birthday": "1953-05-04", "nickname": "Börje"}));
    assert!(s.check(RecordKind::Contact, &mut values, true).is_ok());
    match super::values::created_split(&values) {
        Ok((plain, personal)) => {
            assert_eq!(plain.keys().collect::<Vec<_>>(), [&OTHER]);
            assert_eq!(personal.get(&FIELD), Some(&json!("1953-05-04")));
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn unique_is_for_comparable_types_and_never_for_personal_data() {
    for kind in [
        FieldKind::LongText,
        FieldKind::Boolean,
        FieldKind::MultiSelect,
        FieldKind::Money,
    ] {
        let mut i = input("u", kind);
        i.unique = true;
        invalid_on("unique", run(vec![], define(FIELD, i)));
    }
    let mut i = input("u", FieldKind::Text);
    i.record = RecordKind::Contact;
    i.unique = true;
    i.personal_data = true;
    invalid_on("unique", run(vec![], define(FIELD, i.clone())));
    i.personal_data = false;
    assert!(run(vec![], define(FIELD, i)).is_ok());
}
