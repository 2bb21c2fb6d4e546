//! `/case … number` suggests the guild's cases whose number starts with what was typed.

mod support;

use serde_json::json;
use support::Stack;

#[tokio::test]
async fn case_numbers_are_suggested_newest_first_for_moderators_only() {
    let stack = Stack::start().await;
    let (_, channel, owner, target, plain) = stack.cast();
    for i in 0..12 {
        let id = stack.warn(channel, owner, target, &format!("reason {i}"));
        stack.callback(id).await;
    }
    let typing = |digits: &str| {
        json!({"id": "1", "name": "case", "type": 1, "options": [
            {"name": "show", "type": 1, "options": [
                {"name": "number", "type": 4, "value": digits, "focused": true}
            ]}
        ]})
    };
    let (id, _) = stack
        .sim
        .inject_interaction(4, channel, owner, typing("1"))
        .expect("autocomplete");
    let answer = stack.callback(id).await;
    assert_eq!(answer["type"], json!(8), "{answer}");
    let values: Vec<i64> = answer["data"]["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .filter_map(|c| c["value"].as_i64())
        .collect();
    assert_eq!(values, vec![12, 11, 10, 1]);
    assert_eq!(
        answer["data"]["choices"][0]["name"],
        json!(format!("#12 warn {target}: reason 11"))
    );

    let (id, _) = stack
        .sim
        .inject_interaction(4, channel, plain, typing(""))
        .expect("autocomplete");
    let answer = stack.callback(id).await;
    assert_eq!(
        answer["data"]["choices"],
        json!([]),
        "not for members: {answer}"
    );
    stack.stop().await;
}
