import { validate as deploymentSchema } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment'
import { validate as statefulSetSchema } from 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet'
import { validate as secretSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret'
import { validate as serviceSchema } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { Secret, Service } from 'kubernetes-models/v1'

/** A Kubernetes object as it parsed from YAML. */
// biome-ignore lint/suspicious/noExplicitAny: the test reads manifests whose shape it checks
export type K8sObject = Record<string, any>

/** The kinds `meshpool k8s` prints, each with its model class and the compiled OpenAPI schema behind it. */
const KINDS: Record<string, { model: new (data: never) => { validate(): void }; schema: (data: unknown) => boolean }> =
  {
    'v1/Secret': { model: Secret, schema: secretSchema },
    'v1/Service': { model: Service, schema: serviceSchema },
    'apps/v1/Deployment': { model: Deployment, schema: deploymentSchema },
    'apps/v1/StatefulSet': { model: StatefulSet, schema: statefulSetSchema },
  }

/**
 * What the Kubernetes API would refuse in an object: its model's validation against the
 * OpenAPI schemas (types, required fields, formats such as a Secret's base64), and
 * fields no schema knows (a typo like `replicaz`, which those schemas let pass but
 * `kubectl apply`, whose field validation is strict, refuses).
 */
export function schemaProblems(doc: K8sObject): string[] {
  const kind = KINDS[`${doc.apiVersion}/${doc.kind}`]
  if (kind === undefined)
    return [`no schema here for ${doc.apiVersion} ${doc.kind}: add its class to test/k8s-schema.ts`]
  const problems: string[] = []
  try {
    new kind.model(doc as never).validate()
  } catch (err) {
    problems.push((err as Error).message)
  }
  problems.push(...unknownFields(doc, kind.schema))
  return problems
}

/**
 * The schema validators read each property their schema declares, and enumerate the keys
 * of maps (labels, limits, a Secret's data). Run one over a proxy that records that, and
 * every key it neither read nor enumerated is a field the schema doesn't have.
 */
function unknownFields(doc: K8sObject, schema: (data: unknown) => boolean): string[] {
  const read = new WeakMap<object, Set<string | symbol> | 'all'>()
  const wrap = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value
    return new Proxy(value, {
      get(target, key, receiver) {
        const keys = read.get(target) ?? new Set()
        if (keys !== 'all') read.set(target, keys.add(key))
        return wrap(Reflect.get(target, key, receiver))
      },
      ownKeys(target) {
        read.set(target, 'all')
        return Reflect.ownKeys(target)
      },
    })
  }
  schema(wrap(doc))
  const unknown: string[] = []
  const walk = (value: unknown, path: string): void => {
    if (typeof value !== 'object' || value === null) return
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) walk(item, `${path}[${index}]`)
      return
    }
    const keys = read.get(value)
    for (const [key, child] of Object.entries(value)) {
      if (keys !== 'all' && !keys?.has(key)) unknown.push(`${doc.kind} ${path}.${key}: no such field in the API`)
      else walk(child, `${path}.${key}`)
    }
  }
  walk(doc, '')
  return unknown
}
