rule ingest:
    output:
        **stage_outputs("ingest"),
    params:
        settings=smk_settings(STAGES["ingest"], config),
    log:
        stage_log("ingest"),
    conda:
        "../../envs/dupstudy.yaml"
    threads: 2
    shell:
        smk_shell(STAGES["ingest"])


rule dedup:
    input:
        **stage_inputs("dedup"),
    output:
        **stage_outputs("dedup"),
    params:
        settings=smk_settings(STAGES["dedup"], config),
    log:
        stage_log("dedup"),
    conda:
        "../../envs/dupstudy.yaml"
    threads: 2
    shell:
        smk_shell(STAGES["dedup"])


rule variant:
    input:
        **stage_inputs("variant"),
    output:
        **stage_outputs("variant"),
    params:
        settings=smk_settings(STAGES["variant"], config),
    log:
        stage_log("variant"),
    conda:
        "../../envs/dupstudy.yaml"
    shell:
        smk_shell(STAGES["variant"])
