rule aggregate:
    input:
        **stage_inputs("aggregate"),
    output:
        **stage_outputs("aggregate"),
    log:
        stage_log("aggregate"),
    conda:
        "../../envs/report.yaml"
    params:
        settings=smk_settings(STAGES["aggregate"], config),
    shell:
        smk_shell(STAGES["aggregate"])


rule gaussian:
    output:
        **stage_outputs("gaussian"),
    log:
        stage_log("gaussian"),
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        settings=smk_settings(STAGES["gaussian"], config),
    shell:
        smk_shell(STAGES["gaussian"])


rule report:
    input:
        **stage_inputs("report"),
    output:
        **stage_outputs("report"),
    log:
        stage_log("report"),
    conda:
        "../../envs/report.yaml"
    params:
        settings=smk_settings(STAGES["report"], config),
    shell:
        smk_shell(STAGES["report"])
