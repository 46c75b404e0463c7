"""Changes read as `kubectl diff`: the object's YAML around the leaf that changes."""

from remediator.yamldiff import object_name, render


def test_env_var_in_a_named_container() -> None:
    lines = render(
        [("spec.template.spec.containers[api].env[RATE_LIMIT_MODE]", "direct", "queue")],
        target_key="shop/Deployment/checkout",
    )
    assert lines == [
        "--- live/apps.v1.Deployment.shop.checkout",
        "+++ planned/apps.v1.Deployment.shop.checkout",
        " spec:",
        "   template:",
        "     spec:",
        "       containers:",
        "       - name: api",
        "         env:",
        "         - name: RATE_LIMIT_MODE",
        "-          value: direct",
        "+          value: queue",
    ]


def test_an_added_annotation_keeps_its_parents_as_context() -> None:
    key = "spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]"
    lines = render(
        [(key, None, "2026-11-23T10:00:00Z")], target_key="shop/Deployment/web", after_label="applied"
    )
    assert lines[1] == "+++ applied/apps.v1.Deployment.shop.web"
    assert lines[2:] == [
        " spec:",
        "   template:",
        "     metadata:",
        "       annotations:",
        "+        kubectl.kubernetes.io/restartedAt: '2026-11-23T10:00:00Z'",
    ]


def test_plan_without_a_cluster_and_scalars_and_pods() -> None:
    assert render([("spec.template", None, "the previous revision")], target_key="a/Deployment/b")[2:] == [
        " spec:",
        "+  template: the previous revision",
    ]
    assert render([("spec.replicas", 2, 4)], target_key="a/StatefulSet/b")[2:] == [
        " spec:",
        "-  replicas: 2",
        "+  replicas: 4",
    ]
    assert render(
        [("pods[web-1]", "Running", "deleted"), ("pods[web-2]", None, "deleted")], target_key="a/Deployment/b"
    ) == [
        "pod/web-1 deleted (was Running)",
        "pod/web-2 deleted",
    ]
    assert render([("spec.replicas", 3, 3)], target_key="a/Deployment/b") == []


def test_object_names_as_kubectl_diff() -> None:
    assert object_name("shop/DaemonSet/agent") == "apps.v1.DaemonSet.shop.agent"
    assert object_name("odd") == "odd"
